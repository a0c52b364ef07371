"""Where the engine may write, replace or remove: never anything it did not create.

Outputs are recognised by their own metadata: a store by its group attributes
(`engine = "t1dmc"` and the list of nodes it created, `t1dmc_nodes`) or, while it is being
created, by its lock file; a JSON or CSV by the header the engine writes; a report folder by
its page's generator tag. Anything else at an output path is refused with exit status 2 and a
message saying what is there. Paths are never followed through symbolic links, and `.`, `''`,
`/`, the home folder, the working folder and its parents are never replaced.

One writer per store: a run holds an exclusive `flock` on `<store>/.t1dmc.lock` for its whole
life. A second writer fails at once, naming the holder's PID and host. On NFS, Linux emulates
flock with POSIX byte-range locks (NLM), which holds across clients when lockd runs; Lustre
needs the `flock` mount option (`localflock` only locks within one node), otherwise locking
fails and the run refuses, naming the filesystem's answer (docs/data-safety.md).

A replaced store is built beside the old one (`.<name>.t1dmc-new`) and swapped in when the new
run has finished; until then the old results stay whole and readable, and a killed replacement
resumes with `--resume`.
"""

import ctypes
import datetime as _dt
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOCK_NAME = ".t1dmc.lock"
STAGED_SUFFIX = ".t1dmc-new"
ENGINE_TAG = "t1dmc"
CSV_HEADER = "# t1dmc"
SHOWN_ENTRIES = 5
# zarr-python writes a metadata document to `zarr.<hex>.partial` and renames it into place: a
# kill in between leaves one behind, which is the engine's own
ZARR_PARTIAL = re.compile(r"^zarr\.[0-9a-f]+\.partial$")


class UnsafeOutput(Exception):
    """An output the engine refuses to create or replace (exit status 2)."""


class StoreBusy(UnsafeOutput):
    """Another process holds the store's lock."""


def _describe(entries: list[str]) -> str:
    shown = ", ".join(sorted(entries)[:SHOWN_ENTRIES])
    more = len(entries) - SHOWN_ENTRIES
    return shown + (f" and {more} more" if more > 0 else "")


def refuse_unsafe_target(path: Path, what: str = "output") -> None:
    """Refuse paths that must never be replaced whatever they hold."""
    text = str(path)
    if text.strip() in ("", ".", "./"):
        raise UnsafeOutput(
            f"{what} {text!r}: the working folder is never an output; name a new path"
        )
    try:
        os.lstat(path)
    except OSError as err:  # a name too long for the filesystem (the rest: said below)
        if err.errno == errno.ENAMETOOLONG:
            raise UnsafeOutput(
                f"{what} {_short(text)!r}: {err.strerror}; name another path"
            ) from None
    room = _name_max(path.parent) - NAME_ROOM
    if len(os.fsencode(path.name)) > room:
        # the engine writes beside the output under longer names (.NAME.t1dmc-tmp-PID-xxxx)
        raise UnsafeOutput(
            f"{what} {_short(text)!r}: a name of {len(os.fsencode(path.name))} bytes; the "
            f"engine's temporary names beside it need it to be at most {room}: name another path"
        )
    if path.is_symlink():
        raise UnsafeOutput(
            f"{what} {text!r} is a symbolic link (to {os.readlink(path)!r}); the "
            "engine never writes through links: name the real path"
        )
    real = path.resolve()
    cwd = Path.cwd().resolve()
    home = Path.home().resolve()
    if real == Path(real.anchor) or real == home or cwd == real or cwd.is_relative_to(real):
        raise UnsafeOutput(
            f"{what} {text!r} is {'/' if real == Path(real.anchor) else real}: "
            "the root, home or working folder (or a parent of it) is never an "
            "output"
        )
    for folder in real.parents:
        attrs = read_attrs(folder)
        if attrs is not None and attrs.get("engine") == ENGINE_TAG:
            # a store's folder holds its arrays only: a store inside it could not be told
            # from damage, and the outer store could no longer be replaced
            raise UnsafeOutput(
                f"{what} {text!r} lies inside the t1dmc store {str(folder)!r}; a store holds "
                "only its own arrays: name a path outside it"
            )


# the bytes the engine's names beside an output add to its name: `.NAME.t1dmc-old-PID-xxxxxxxx`
# (PIDs up to 7 digits), the longest of them
NAME_ROOM = len(".") + len(".t1dmc-old-") + 7 + len("-") + 8


def _name_max(folder: Path) -> int:
    """The longest file name the filesystem of `folder` takes (255 where it does not say)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _short(text: str, keep: int = 60) -> str:
    """A path as a message shows it: a very long one cut in the middle."""
    return text if len(text) <= 2 * keep else f"{text[:keep]}...{text[-keep:]}"


def _require_folder(folder: Path, path: Path, what: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise UnsafeOutput(
            f"cannot write {what} {str(path)!r}: {str(folder)!r} is a file, not a folder"
        )
    if not folder.is_dir():
        raise UnsafeOutput(f"{what} folder {str(folder)!r} does not exist; create it first")


def read_attrs(path: Path) -> dict | None:
    """The group attributes of a zarr v3 store at `path`, or None when it has none readable."""
    meta = path / "zarr.json"
    try:
        if meta.is_symlink() or not meta.is_file():
            return None
        doc = json.loads(meta.read_bytes())
    except (OSError, ValueError):
        return None
    attrs = doc.get("attributes") if isinstance(doc, dict) else None
    return attrs if isinstance(attrs, dict) else None


@dataclass
class Classified:
    kind: str  # missing | empty | store | foreign | file | symlink | damaged
    foreign: list[str] = field(default_factory=list)  # entries the engine did not create
    marked: bool = False  # carries the engine's marks (attributes or lock file)

    def describe(self, path: Path) -> str:
        if self.kind == "symlink":
            return f"{str(path)!r} is a symbolic link"
        if self.kind == "file":
            return f"{str(path)!r} is a file the engine did not write"
        if self.kind == "damaged":
            return (
                f"{str(path)!r} is not a readable t1dmc store: its group metadata (zarr.json)"
                " is missing or unreadable, so nothing says what it holds; if it is a "
                "damaged store of yours, remove it yourself and run again"
            )
        if self.marked:
            return (
                f"{str(path)!r} is a t1dmc store that also holds what the engine did not "
                f"create: {_describe(self.foreign)}"
            )
        return f"{str(path)!r} is not a t1dmc store: it holds {_describe(self.foreign)}"


def holds_only_a_lock(path: Path, entries: list[str] | None = None) -> bool:
    """Whether the folder `path` holds nothing but the engine's own lock file: a regular file
    (not a link) naming the engine."""
    if entries is None:
        entries = os.listdir(path) if path.is_dir() and not path.is_symlink() else []
    lock = path / LOCK_NAME
    return (
        entries == [LOCK_NAME] and not lock.is_symlink() and lock.is_file() and is_t1dmc_json(lock)
    )


def classify_store(path: Path) -> Classified:
    """What is at `path`, seen as a place for a results store."""
    if path.is_symlink():
        return Classified("symlink")
    if not path.exists():
        return Classified("missing")
    if not path.is_dir():
        return Classified("file")
    entries = os.listdir(path)
    if not entries:
        return Classified("empty")
    if holds_only_a_lock(path, entries):
        # a run claimed the folder and ended (a crash, a kill) before it wrote anything; the
        # lock decides whether that run is still going
        return Classified("empty")
    attrs = read_attrs(path)
    has_lock = LOCK_NAME in entries and (path / LOCK_NAME).is_file()
    ours = attrs is not None and attrs.get("engine") == ENGINE_TAG
    if not ours and not has_lock:
        return Classified("foreign", entries)
    if attrs is None:
        # a lock and no readable group metadata (unreadable, or gone beside arrays): nothing
        # says what it is; a lock with at most a killed write of that metadata is ours
        beside = [e for e in entries if e not in (LOCK_NAME, "zarr.json")]
        if (path / "zarr.json").exists() or not all(ZARR_PARTIAL.match(e) for e in beside):
            return Classified("damaged")
    nodes = set(attrs.get("t1dmc_nodes", ())) if ours else set()
    foreign = []
    for name in entries:
        p = path / name
        if p.is_symlink():
            foreign.append(f"{name} (a link)")
        elif name in ("zarr.json", LOCK_NAME) or ZARR_PARTIAL.match(name):
            continue
        elif ours and p.is_dir() and name in nodes:
            foreign.extend(f"{name}/{inner}" for inner in _foreign_in_node(p))
        # a lock file alone does not make a store ours: without the engine's attributes (the
        # first thing its creation writes) nothing but the group's metadata may be there
        else:
            foreign.append(name + ("/" if p.is_dir() else ""))
    return Classified("foreign", foreign, marked=True) if foreign else Classified("store")


# a chunk as zarr writes it (`c/<i>/<j>/...`, default chunk-key encoding), and the file it
# writes first and renames into place (`<i>.<hex>.partial`): a kill in between leaves one
CHUNK_KEY = re.compile(r"^[0-9]+$")
CHUNK_PARTIAL_0D = re.compile(r"^c\.[0-9a-f]+\.partial$")  # a 0-d array's chunk `c`, being written
CHUNK_PARTIAL = re.compile(r"^[0-9]+\.[0-9a-f]+\.partial$")


def _array_ndim(node: Path) -> int | None:
    """The number of dimensions an array's metadata gives, or None when it says none."""
    try:
        doc = json.loads((node / "zarr.json").read_bytes())
        shape = doc.get("shape") if doc.get("node_type") == "array" else None
    except (OSError, ValueError, AttributeError):
        return None
    return len(shape) if isinstance(shape, list) else None


def _entries(folder: Path):
    """The folder's entries with the kind the listing gives (os.scandir: no stat per entry on
    most filesystems, which matters for a store of a million chunks on Lustre or NFS)."""
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: e.name)


def _still_there(entry) -> bool:
    """Whether an entry listed a moment ago still exists: in a store being written a
    `.partial` is renamed into its chunk meanwhile."""
    return os.path.lexists(entry.path)


def _foreign_in_node(node: Path) -> list[str]:
    """What an array folder holds besides what zarr writes there: its metadata and, under
    `c/`, folders and chunk files named by chunk index, as deep as the array has dimensions
    (a 0-d array's one chunk is the file `c`), no links. Returns those entries' paths inside
    the folder (a folder with a trailing /)."""
    ndim = _array_ndim(node)
    foreign = []
    for e in _entries(node):
        name = e.name
        if e.is_symlink():
            foreign.append(f"{name} (a link)")
        elif e.is_file(follow_symlinks=False) and (
            name == "zarr.json"
            or ZARR_PARTIAL.match(name)
            or ndim in (0, None)
            and (name == "c" or CHUNK_PARTIAL_0D.match(name))
        ):
            continue
        elif name == "c" and e.is_dir(follow_symlinks=False) and ndim != 0:
            foreign.extend(f"c/{inner}" for inner in _foreign_in_chunks(Path(e.path), ndim))
        elif _still_there(e):
            foreign.append(name + ("/" if e.is_dir(follow_symlinks=False) else ""))
    return foreign


def _foreign_in_chunks(folder: Path, depth: int | None) -> list[str]:
    """Entries under a chunk folder that are not chunks: `depth` more levels of index folders
    and then chunk files (any depth when the array's metadata is unreadable)."""
    foreign = []
    for e in _entries(folder):
        name = e.name
        if e.is_symlink():
            foreign.append(f"{name} (a link)")
        elif (
            e.is_dir(follow_symlinks=False)
            and CHUNK_KEY.match(name)
            and (depth is None or depth > 1)
        ):
            inner = _foreign_in_chunks(Path(e.path), None if depth is None else depth - 1)
            foreign.extend(f"{name}/{x}" for x in inner)
        elif (
            e.is_file(follow_symlinks=False)
            and (CHUNK_KEY.match(name) or CHUNK_PARTIAL.match(name))
            and (depth is None or depth == 1)
        ):
            continue
        elif _still_there(e):
            foreign.append(name + ("/" if e.is_dir(follow_symlinks=False) else ""))
    return foreign


def staged_path(out: Path) -> Path:
    """Where the replacement of `out` is built: beside it, so the swap is a rename."""
    return out.parent / f".{out.name}{STAGED_SUFFIX}"


class _Lock:
    """An exclusive flock on `<folder>/.t1dmc.lock`, with the holder named inside."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.fd: int | None = None

    def acquire(self) -> "_Lock":
        lock = self.folder / LOCK_NAME
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(lock, flags, 0o644)
        except OSError as err:
            raise UnsafeOutput(f"cannot create the lock {str(lock)!r}: {err.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreBusy(
                    f"{str(self.folder)!r} is being written by another run "
                    f"({holder_text(self.folder)}); wait for it to finish or stop "
                    "it, or choose another output"
                ) from None
            raise UnsafeOutput(
                f"cannot lock {str(lock)!r}: {err.strerror} (errno {err.errno}); this "
                "filesystem does not support flock (Lustre: mount with -o flock), so one "
                "writer per store cannot be guaranteed here; pass --no-lock to run anyway"
            ) from None
        # the folder may have been renamed or replaced between open and flock
        try:
            same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if not same:
            os.close(fd)
            raise StoreBusy(
                f"{str(self.folder)!r} changed while it was being locked: another "
                "process is replacing it; try again"
            )
        holder = {
            "engine": ENGINE_TAG,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def holder_text(folder: Path) -> str:
    """`PID n on HOST since T`, from the lock file (as its holder wrote it)."""
    try:
        h = json.loads((folder / LOCK_NAME).read_text())
        return f"PID {h['pid']} on {h['host']} since {h['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that is starting"


def writer_of(folder: Path) -> str | None:
    """The holder of a store's lock when a run is writing it now, else None."""
    lock = folder / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return holder_text(folder)
    finally:
        os.close(fd)
    return None


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(a))


def _trash_path(out: Path) -> Path:
    """A unique sibling name for what is being removed: never the staged name, so a removal
    that is interrupted is not mistaken for a replacement to finish."""
    return out.parent / f".{out.name}.t1dmc-old-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _exchange(new: Path, out: Path) -> Path | None:
    """Put the folder `new` at `out`; returns where what was at `out` now is (None if nothing
    was there)."""
    if not os.path.lexists(out):
        os.rename(new, out)
        return None
    if _renameat2_exchange(new, out):
        return new
    aside = _trash_path(out)  # no atomic exchange here (NFS): two renames
    os.rename(out, aside)
    os.rename(new, out)
    return aside


def _remove_displaced(displaced: Path | None, out: Path) -> None:
    if displaced is None:
        return
    trash = displaced if displaced.name.startswith(f".{out.name}.t1dmc-old-") else None
    if trash is None:
        trash = _trash_path(out)
        os.rename(displaced, trash)
    shutil.rmtree(trash)


def swap_in(new: Path, out: Path, owned: Callable[[Path], bool]) -> None:
    """Put the folder `new` at `out` and remove what was there, which `owned` must accept
    both before the exchange and after it (it may have changed during a long write); if
    not, everything is put back as it was and UnsafeOutput raised."""
    if os.path.lexists(out) and not owned(out):
        raise UnsafeOutput(
            f"{str(out)!r} changed while the output was being written and is no "
            "longer the engine's own; nothing was replaced"
        )
    displaced = _exchange(new, out)
    if displaced is not None and not owned(displaced):
        if displaced == new:  # exchanged: exchange back
            _renameat2_exchange(new, out)
        else:  # two renames: undo both
            os.rename(out, new)
            os.rename(displaced, out)
        raise UnsafeOutput(
            f"{str(out)!r} changed while the output was being replaced; it was "
            "put back and nothing was replaced"
        )
    _remove_displaced(displaced, out)


def _holds(lock: "_Lock", folder: Path) -> bool:
    """Whether `folder`'s lock file is the very file `lock` holds (not moved, not replaced)."""
    try:
        st = os.stat(folder / LOCK_NAME, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(lock.fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


class StoreClaim:
    """The right to write one results store: its lock (and, when replacing, the old store's
    lock too), the folder tasks write into, and the final swap.

        claim = StoreClaim.open(out, overwrite=..., resume=...)
        ... create or resume claim.write_path, run the tasks ...
        claim.commit()      # swaps a replacement in; always release() in a finally
    """

    def __init__(self, out: Path):
        self.out = out
        self.write_path = out
        self.resuming = False  # write_path holds an earlier run's store to finish
        self.staged = False  # write_path is a replacement built beside `out`
        self._locks: list[_Lock] = []
        self._lock_enabled = True
        self._out_lock: _Lock | None = None  # the lock on `out` while replacing it

    @classmethod
    def open(
        cls, out: Path, overwrite: bool = False, resume: bool = False, lock: bool = True
    ) -> "StoreClaim":
        out = Path(os.path.abspath(out))  # absolute, without resolving links
        refuse_unsafe_target(out)
        _require_folder(out.parent, out, "output")
        claim = cls(out)
        claim._lock_enabled = lock
        try:
            claim._open(overwrite, resume)
        except BaseException:
            claim.release()
            raise
        return claim

    def _lock(self, folder: Path) -> "_Lock | None":
        if not self._lock_enabled:
            return None
        self._locks.append(_Lock(folder).acquire())
        return self._locks[-1]

    def _refuse_unless_ours(self, path: Path, c: Classified) -> None:
        if c.kind not in ("store", "empty"):
            raise UnsafeOutput(
                c.describe(path) + "; the engine replaces only its own stores: "
                "choose another output"
            )
        if c.kind == "store":
            refuse_other_kind(path, "results")

    def _open(self, overwrite: bool, resume: bool) -> None:
        out, staged = self.out, staged_path(self.out)
        current = classify_store(out)
        if resume:
            pending = classify_store(staged)
            if pending.kind == "store":
                # a replacement was interrupted: finish it, then swap it in; `out` is locked
                # (an empty placeholder if nothing is there) so no other run takes it meanwhile
                if current.kind in ("missing", "empty"):
                    self._out_lock = self._create(out)
                else:
                    self._refuse_unless_ours(out, current)
                    self._out_lock = self._lock(out)
                self._lock(staged)
                self.write_path, self.staged, self.resuming = staged, True, True
                return
            if current.kind == "store":
                self._lock(out)
                self.resuming = True
                return
            if current.kind not in ("missing", "empty"):
                self._refuse_unless_ours(out, current)
            return self._create(out)
        if current.kind in ("missing", "empty"):
            return self._create(out)
        self._refuse_unless_ours(out, current)
        busy = writer_of(out)
        if busy:
            raise StoreBusy(
                f"{str(out)!r} is being written by another run ({busy}); wait for "
                "it to finish or stop it, or choose another output"
            )
        if not overwrite:
            hint = (
                f"; an interrupted replacement is at {str(staged)!r}: --resume finishes it"
                if classify_store(staged).kind == "store"
                else ""
            )
            raise FileExistsError(
                f"output {str(out)!r} exists; pass --overwrite to replace it "
                f"or --resume to finish it (engine.run: overwrite=True, resume=True; it is a "
                f"t1dmc store){hint}"
            )
        self._out_lock = self._lock(out)  # nobody writes the old store while we replace it
        pending = classify_store(staged)
        if pending.kind == "store":
            self._discard_abandoned(staged)
        elif pending.kind not in ("missing", "empty"):
            self._refuse_unless_ours(staged, pending)
        self._create(staged)
        self.write_path, self.staged = staged, True

    def _discard_abandoned(self, staged: Path) -> None:
        """Remove an earlier replacement that was abandoned: locked first (no run is finishing
        it), looked at again under the lock, and moved to a trash name where it is removed
        only if it is still the folder locked."""
        lock = self._lock(staged)
        again = classify_store(staged)
        if again.kind != "store":
            self._refuse_unless_ours(staged, again)
        trash = _trash_path(self.out)
        os.rename(staged, trash)
        if lock is not None and not _holds(lock, trash):
            os.rename(trash, staged)
            raise StoreBusy(f"{str(staged)!r} changed while it was being removed; try again")
        shutil.rmtree(trash)
        if lock is not None:
            self._locks.remove(lock)
            lock.release()

    def _create(self, folder: Path) -> "_Lock | None":
        try:
            folder.mkdir()
        except FileExistsError:
            c = classify_store(folder)
            if c.kind != "empty":  # someone else got there between look and make
                self._refuse_unless_ours(folder, c)
                raise StoreBusy(
                    f"{str(folder)!r} appeared while this run was starting: "
                    "another run is creating it"
                ) from None
        lock = self._lock(folder)
        c = classify_store(folder)
        if c.kind == "foreign":
            raise UnsafeOutput(c.describe(folder) + "; choose another output")
        return lock

    def commit(self) -> None:
        """Swap a finished replacement in; the old store goes only now, and only when it is
        still the very store this run locked at its start."""
        if not self.staged:
            return
        new, out, lock = self.write_path, self.out, self._out_lock

        def still_ours(path: Path) -> bool:
            if lock is not None:
                return _holds(lock, path)
            return classify_store(path).kind in ("store", "empty")

        try:
            swap_in(new, out, still_ours)
        except UnsafeOutput:
            raise UnsafeOutput(
                f"{str(out)!r} was moved or replaced while this run built its "
                f"replacement; nothing was swapped or removed: the new results "
                f"are at {str(new)!r}"
            ) from None
        self.write_path, self.staged = out, False

    def release(self) -> None:
        for lk in reversed(self._locks):
            lk.release()
        self._locks.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


# ---------------------------------------------------------------------------- small outputs


def is_t1dmc_json(path: Path) -> bool:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("engine") == ENGINE_TAG


def is_t1dmc_csv(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.readline().startswith(CSV_HEADER.encode())
    except OSError:
        return False


def is_t1dmc_zarr(path: Path) -> bool:
    return path.is_dir() and classify_store(path).kind == "store"


def what_is_there(path: Path, expected=frozenset()) -> str:
    """What is at `path`, for a refusal: its kind and, for a folder, what it holds; the entries
    an output of this kind does not hold (names outside `expected`) come first."""
    if path.is_symlink():
        return "a symbolic link"
    if not path.is_dir():
        return "a file the engine did not write"
    c = classify_store(path)
    if c.kind == "store":
        kind = output_kind(path)
        return f"a t1dmc {OUTPUT_KINDS[kind] if kind else 'store'}"
    if c.kind == "foreign" and c.marked:
        return (
            f"a t1dmc store that also holds what the engine did not create: {_describe(c.foreign)}"
        )
    try:
        entries = os.listdir(path)
    except OSError as err:
        return f"a folder that cannot be read ({err.strerror})"
    if not entries:
        return "an empty folder"
    extra = [n for n in entries if n not in expected]
    if expected and extra and len(extra) < len(entries):
        return f"a folder holding what the engine did not write: {_describe(extra)}"
    return f"a folder the engine did not write, holding {_describe(entries)}"


def write_output(
    path: Path,
    overwrite: bool,
    owned: Callable[[Path], bool],
    write: Callable[[Path], None],
    what: str = "output",
    expected=frozenset(),
) -> None:
    """Write an output through `write(tmp)` into a sibling temporary path, then move it into
    place. An existing output is replaced only with `overwrite` and when `owned(path)` says
    the engine wrote it; a failed write leaves the old one as it was. A refusal says what is
    there (`expected`: the names an output of this kind holds, for naming the others)."""
    path = Path(os.path.abspath(path))
    refuse_unsafe_target(path, what)
    _require_folder(path.parent, path, what)
    if path.exists():
        # ownership first: --overwrite is offered only where it would be obeyed
        if not owned(path):
            raise UnsafeOutput(
                f"{what} {str(path)!r} is {what_is_there(path, expected)}; the engine "
                "replaces only its own outputs: choose another path"
            )
        if not overwrite:
            raise FileExistsError(f"{what} {str(path)!r} exists; pass --overwrite to replace it")
    # a name no one else uses, created by `write` itself: whatever is there on failure is ours
    tmp = path.parent / f".{path.name}{TMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write(tmp)
        # the write may have taken minutes: what is at `path` is checked again
        if path.is_dir() and not path.is_symlink():
            swap_in(tmp, path, owned)
        else:
            if os.path.lexists(path) and not owned(path):
                raise UnsafeOutput(
                    f"{what} {str(path)!r} changed while the output was being "
                    "written and is no longer the engine's own; nothing was "
                    "replaced"
                )
            os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            remove_own(tmp)
        raise


class _Checked(Exception):
    """check_output's stop before anything is written."""


def check_output(
    path: Path,
    overwrite: bool,
    owned: Callable[[Path], bool],
    what: str = "output",
    expected=frozenset(),
) -> None:
    """Raise now what `write_output` would refuse (UnsafeOutput, FileExistsError), so a
    command fails before its work rather than after; nothing is written. write_output checks
    again when it writes."""

    def stop(_tmp: Path) -> None:
        raise _Checked

    try:
        write_output(path, overwrite, owned, stop, what, expected)
    except _Checked:
        pass


# the names the engine gives its temporary outputs, and only those: remove_own removes nothing else
TMP_MARKER = ".t1dmc-tmp-"  # write_output's sibling of the output being written
RUN_FOLDER_PREFIX = "t1dmc-run-"  # engine.run's in-memory run folder (tempfile.mkdtemp)


def remove_own(path: Path) -> None:
    """Remove a temporary output of the engine's own, never through a link: a path named
    with TMP_MARKER or RUN_FOLDER_PREFIX, the names only the engine gives; anything else is
    refused (UnsafeOutput) and left as it is."""
    path = Path(path)
    if not (TMP_MARKER in path.name or path.name.startswith(RUN_FOLDER_PREFIX)):
        raise UnsafeOutput(
            f"{str(path)!r} is not a temporary output the engine named; it was not removed"
        )
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def tag_dataset(ds, kind: str) -> None:
    """Mark an xarray Dataset written as a store so the engine recognises it later, and what
    it holds (`kind`: OUTPUT_KINDS), so that one command's --overwrite never replaces
    another's output."""
    ds.attrs["engine"] = ENGINE_TAG
    ds.attrs["t1dmc_output"] = kind
    ds.attrs["t1dmc_nodes"] = sorted(str(v) for v in ds.variables)


# what a t1dmc zarr store holds, with the command that writes it
OUTPUT_KINDS = {
    "results": "results store (written by t1dmc run)",
    "comparison": "comparison (written by t1dmc compare)",
    "replay": "replay (written by t1dmc replay)",
}


def output_kind(path: Path) -> str | None:
    """What the t1dmc zarr store at `path` holds (a key of OUTPUT_KINDS): a run's results
    store has the run's config; the others are tagged by tag_dataset. None: no readable
    attributes, or a comparison or replay written before 0.13.0 (untagged)."""
    attrs = read_attrs(path)
    if attrs is None:
        return None
    if "config_toml" in attrs:
        return "results"
    kind = attrs.get("t1dmc_output")
    return kind if kind in OUTPUT_KINDS else None


def refuse_other_kind(path: Path, kind: str, what: str = "output") -> None:
    """UnsafeOutput when the t1dmc store at `path` holds another kind of output than `kind`:
    --overwrite replaces an output only with the command that wrote it (a comparison must not
    replace the results of a run that took hours)."""
    found = output_kind(path)
    if found is not None and found != kind:
        raise UnsafeOutput(
            f"{what} {str(path)!r} is a t1dmc {OUTPUT_KINDS[found]}, not a "
            f"{OUTPUT_KINDS[kind].split(' (')[0]}; --overwrite replaces only an output of the "
            "same kind: choose another path"
        )
