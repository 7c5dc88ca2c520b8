"""The sandbox's catalogue: sizes (with DigitalOcean's public prices), regions and images.

Sizes matter beyond display: the orchestrator estimates a release's cost from
``price_hourly``. Images are labels only; every sandbox host runs this machine's system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Size:
    """A droplet size as ``GET /v2/sizes`` lists it."""

    slug: str
    memory: int
    vcpus: int
    disk: int
    transfer: float
    price_monthly: float
    price_hourly: float
    description: str


@dataclass(frozen=True)
class Image:
    """A public distribution image."""

    id: int
    slug: str
    name: str
    distribution: str


SIZES: tuple[Size, ...] = (
    Size("s-1vcpu-512mb-10gb", 512, 1, 10, 0.5, 4.0, 0.00595, "Basic"),
    Size("s-1vcpu-1gb", 1024, 1, 25, 1.0, 6.0, 0.00893, "Basic"),
    Size("s-1vcpu-2gb", 2048, 1, 50, 2.0, 12.0, 0.01786, "Basic"),
    Size("s-2vcpu-2gb", 2048, 2, 60, 3.0, 18.0, 0.02679, "Basic"),
    Size("s-2vcpu-4gb", 4096, 2, 80, 4.0, 24.0, 0.03571, "Basic"),
    Size("s-4vcpu-8gb", 8192, 4, 160, 5.0, 48.0, 0.07143, "Basic"),
    Size("s-8vcpu-16gb", 16384, 8, 320, 6.0, 96.0, 0.14286, "Basic"),
    Size("c-2", 4096, 2, 25, 4.0, 42.0, 0.0625, "CPU-Optimized"),
    Size("c-4", 8192, 4, 50, 5.0, 84.0, 0.125, "CPU-Optimized"),
    Size("c-8", 16384, 8, 100, 6.0, 168.0, 0.25, "CPU-Optimized"),
    Size("g-2vcpu-8gb", 8192, 2, 25, 4.0, 63.0, 0.09375, "General Purpose"),
    Size("m-2vcpu-16gb", 16384, 2, 50, 4.0, 84.0, 0.125, "Memory-Optimized"),
)

REGIONS: dict[str, str] = {
    "ams3": "Amsterdam 3",
    "blr1": "Bangalore 1",
    "fra1": "Frankfurt 1",
    "lon1": "London 1",
    "nyc1": "New York 1",
    "nyc3": "New York 3",
    # Not a DigitalOcean region: the name the sandbox inventory uses to say where it runs.
    "sandbox1": "Sandbox 1 (this machine)",
    "sfo3": "San Francisco 3",
    "sgp1": "Singapore 1",
    "syd1": "Sydney 1",
    "tor1": "Toronto 1",
}

IMAGES: tuple[Image, ...] = (
    Image(151_000_001, "debian-11-x64", "11 x64", "Debian"),
    Image(151_000_002, "debian-12-x64", "12 x64", "Debian"),
    Image(151_000_003, "ubuntu-20-04-x64", "20.04 (LTS) x64", "Ubuntu"),
    Image(151_000_004, "ubuntu-22-04-x64", "22.04 (LTS) x64", "Ubuntu"),
    Image(151_000_005, "ubuntu-24-04-x64", "24.04 (LTS) x64", "Ubuntu"),
    Image(151_000_006, "fedora-40-x64", "40 x64", "Fedora"),
    Image(151_000_007, "fedora-41-x64", "41 x64", "Fedora"),
    Image(151_000_008, "centos-stream-9-x64", "Stream 9 x64", "CentOS"),
    Image(151_000_009, "rockylinux-9-x64", "9 x64", "Rocky Linux"),
    Image(151_000_010, "almalinux-9-x64", "9 x64", "AlmaLinux"),
)

REGION_FEATURES = ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"]


def find_size(slug: str) -> Size | None:
    """The size with this slug."""
    return next((size for size in SIZES if size.slug == slug), None)


def find_image(reference: str | int) -> Image | None:
    """The image with this slug or numeric id."""
    return next(
        (image for image in IMAGES if reference in (image.slug, image.id, str(image.id))), None
    )


def size_json(size: Size) -> dict[str, Any]:
    """A size as the API shows it."""
    return {
        "slug": size.slug,
        "memory": size.memory,
        "vcpus": size.vcpus,
        "disk": size.disk,
        "transfer": size.transfer,
        "price_monthly": size.price_monthly,
        "price_hourly": size.price_hourly,
        "regions": sorted(REGIONS),
        "available": True,
        "description": size.description,
    }


def region_json(slug: str) -> dict[str, Any]:
    """A region as the API shows it."""
    return {
        "name": REGIONS[slug],
        "slug": slug,
        "features": REGION_FEATURES,
        "available": True,
        "sizes": [size.slug for size in SIZES],
    }


def image_json(image: Image) -> dict[str, Any]:
    """An image as the API shows it."""
    return {
        "id": image.id,
        "name": image.name,
        "distribution": image.distribution,
        "slug": image.slug,
        "public": True,
        "regions": sorted(REGIONS),
        "created_at": "2024-01-01T00:00:00Z",
        "type": "base",
        "min_disk_size": 10,
        "size_gigabytes": 2.5,
        "description": f"{image.distribution} {image.name}",
        "tags": [],
        "status": "available",
        "error_message": "",
    }
