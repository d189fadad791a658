"""The vendored runtime-spec JSON schemas, installed as package data of oci_runtime.schemas."""
