"""Triton serving: model repository, embedded server launcher, client, and the in-process ONNX detector.

The pure pre/post-processing both detectors share lives in :mod:`linecheck.model.processing`.

Modules (import the one you need; nothing heavy is imported here):

* ``graph``: the ONNX graph's tensor names and dims, checked against the model card.
* ``onnx_detector``: :class:`OnnxDetector`, the in-process ONNX Runtime detector.
* ``contract``: class list / layout / size stored in the Triton config ``parameters``.
* ``repository``: builds a Triton model repository (``config.pbtxt``) from the registry.
* ``python_model``: the Python-backend ``model.py`` of the embedded (CPU) flavour.
* ``embedded``: :class:`EmbeddedTriton`, launches the Triton binary bundled with ``nvidia-pytriton``.
* ``transport``: tritonclient (gRPC / HTTP) with one error conversion.
* ``client``: :class:`TritonDetector`, the Triton detector.
* ``settings``: :class:`TritonSettings` (``LINECHECK_TRITON_*``) and ``get_triton_settings()``.
"""
