"""Optimisers and learning-rate schedules by option ``type`` (``train.optim_g``, ``train.optim_d``,
``train.scheduler``): registries and pure schedule functions, below the options rules and the
trainer that both read them."""
