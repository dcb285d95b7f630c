"""The module ``load_dataset("dataoptim", <config>)`` loads (registered in ``dataoptim._register``).

``datasets`` instantiates the one builder class it finds here; that class hands
the call to the source builder that owns ``<config>``, so the object returned
is, say, a :class:`dataoptim.builders.gqa.GQA`.
"""

import datasets

from dataoptim.builder import builder_class_for, builder_classes


class DataOptim(datasets.GeneratorBasedBuilder):
    """All 21 sources under one name; ``DataOptim(config_name="gqa", ...)`` returns the GQA builder.

    Raises:
        dataoptim.errors.ConfigError: unknown config, or a source whose builder is not written yet.
    """

    BUILDER_CONFIGS = [config for cls in builder_classes() for config in cls.BUILDER_CONFIGS]

    def __new__(cls, *args, config_name=None, **kwargs):
        return builder_class_for(config_name)(*args, config_name=config_name, **kwargs)

    def _info(self):  # pragma: no cover - instances are always source builders
        raise NotImplementedError

    def _split_generators(self, dl_manager):  # pragma: no cover
        raise NotImplementedError

    def _generate_examples(self, **kwargs):  # pragma: no cover
        raise NotImplementedError
