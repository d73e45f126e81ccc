"""The model contract shared by training, serving and inspection.

``layout``: the output layouts a graph can have; ``card``: the model card and ONNX facts;
``registry``: the on-disk registry of versions; ``processing``: the pure pre/post-processing every
runtime shares; ``detector``: the one ``Detector`` interface. Nothing here imports
:mod:`linecheck.training`, :mod:`linecheck.serving` or :mod:`linecheck.inspect`
(``tests/test_layering.py`` keeps it so).
"""
