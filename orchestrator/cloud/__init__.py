"""Cloud providers: DigitalOcean droplets (real or sandbox) and static hosts."""
