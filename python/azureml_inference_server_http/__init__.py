"""The newer import path of Azure's inference server: only ``api.aml_request`` and
``api.aml_response``, the same classes as ``azureml.contrib.services``."""
