"""Face enhancement for ``inference.py --face_enhance``: faces found by RetinaFace, aligned to the
FFHQ template, restored by GFPGAN and blended back onto the upscaled picture.

:mod:`.detection` (anchors, decoding, non-maximum suppression), :mod:`.alignment` (the similarity
transform, crops, blend masks, paste-back), :mod:`.files` (the released weight files) and
:mod:`.enhancer` (the pipeline) hold the parts.
"""
