"""Azure ML's raw-HTTP scoring helpers, written for inferd.

``from azureml.contrib.services.aml_request import AMLRequest, rawhttp`` and
``from azureml.contrib.services.aml_response import AMLResponse`` work as in
Azure's inference server; inferd's runtime builds the request and sends the
response.
"""
