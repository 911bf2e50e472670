"""Reports generated from the service's own data, for the pilot programme's authorities."""
