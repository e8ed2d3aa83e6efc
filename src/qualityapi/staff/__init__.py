"""Teams and staff: who handles work and whom escalations reach."""
