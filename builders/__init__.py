"""The 21 source builders of DataOptim's release (its 20 datasets), one module each (DESIGN §3, §12; issue 13).

Every module holds pure conversion functions, one thin
:class:`dataoptim.builder.SourceBuilder` subclass and nothing else.
``_dispatch`` is the module that ``load_dataset("dataoptim", <config>)`` loads.
"""
