"""The bundled microbenchmark: synthetic workload, driver, validator, report and plots."""
