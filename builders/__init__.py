"""The 14 source builders of the DataOptim pool, one module each (DESIGN §3, §12).

Every module holds pure conversion functions, one thin
:class:`dataoptim.builder.SourceBuilder` subclass and nothing else.
``_dispatch`` is the module that ``load_dataset("dataoptim", <config>)`` loads.
"""
