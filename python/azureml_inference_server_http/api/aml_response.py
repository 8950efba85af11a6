"""Re-export of :mod:`azureml.contrib.services.aml_response` under the newer path."""
from azureml.contrib.services.aml_response import AMLResponse

__all__ = ["AMLResponse"]
