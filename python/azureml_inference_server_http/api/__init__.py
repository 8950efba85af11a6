"""``azureml_inference_server_http.api``: see the package docstring."""
