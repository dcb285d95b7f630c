"""Package data: templates, shipped samples."""
