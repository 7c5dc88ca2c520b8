"""The sandbox: a local DigitalOcean API v2 emulator whose droplets are real sshd hosts."""
