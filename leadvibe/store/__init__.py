"""LeadVibe."""
