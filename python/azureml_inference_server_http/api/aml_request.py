"""Re-export of :mod:`azureml.contrib.services.aml_request` under the newer path."""
from azureml.contrib.services.aml_request import AMLRequest, BadRequest, rawhttp

__all__ = ["AMLRequest", "BadRequest", "rawhttp"]
