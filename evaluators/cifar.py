"""CIFAR-10 and CIFAR-100 from the python-pickle batches, parsed, never unpickled.

The files are the "python version" from https://www.cs.toronto.edu/~kriz/cifar.html::

    <root>/cifar-10-batches-py/data_batch_1 … data_batch_5, test_batch   (b"data", b"labels")
    <root>/cifar-100-python/train, test                                  (b"data", b"fine_labels")

``root`` may also be the batches folder itself. Each file is a pickled dict (written by
Python 2, so its strings are read as ``bytes``) holding ``data``, a uint8 array ``[N, 3072]``
(1024 red, then 1024 green, then 1024 blue values of a 32×32 image, row by row), and a list
of ``N`` class indices. No file is unpickled: ``pickle`` is never called. The opcode stream
is walked with :func:`pickletools.genops`, which only parses, and the few opcodes a batch
uses are interpreted here (:class:`_BatchReader`), building only dicts, lists, tuples,
bytes, str, numbers, None and numpy arrays of plain numeric dtypes, whether the file was
written by Python 2 (protocol 2, as the data sets ship) or by Python 3 (protocols 2 to 5).
Any other global, class or persistent id in a file is refused with a
:class:`~spikebits.space.DataError`; nothing named in a file is imported or called.

Images stay uint8 ``[N, 3, 32, 32]`` in memory (150 MB for the 50,000 training images) and
are converted to normalised float32 a batch at a time by
:class:`~spikebits.evaluators.data.MemoryImages` (``CifarImages`` here), which also augments
the training split (random 32×32 crop of the image zero-padded by 4 pixels, then a
horizontal flip with probability 0.5). The validation split is ``val_fraction`` of the
training data (stratified, seeded) and is never augmented; neither is the test split.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spikebits.evaluators.data import (  # noqa: F401  (crop_and_flip and normalise are used from here too)
    VAL_FRACTION,
    DataSplit,
    MemoryImages,
    crop_and_flip,
    normalise,
    register_dataset,
    stratified_split,
)
from spikebits.space import DataError

#: Per-channel (R, G, B) mean and standard deviation of the 50,000 CIFAR-10 training images,
#: pixel values scaled to [0, 1], over all pixels of each channel. (The often copied
#: std (0.2023, 0.1994, 0.2010) is the mean of per-image stds, not the channel std.)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
#: The same statistics for the 50,000 CIFAR-100 training images.
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

#: Side of a CIFAR image and its values per image (3 channels × 32 × 32).
IMAGE_SIZE = 32
PIXELS = 3 * IMAGE_SIZE * IMAGE_SIZE

_SOURCE = "the python version from https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant's files lie and what they hold."""

    name: str
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    label_key: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def expected(self) -> str:
        """The one-line description of the layout that every :class:`DataError` ends with."""
        train = self.train_files[0] if len(self.train_files) == 1 else f"{self.train_files[0]} … {self.train_files[-1]}"
        return f"expected DIR/{self.folder}/{train} and {self.test_file} ({_SOURCE}); pass --data-root DIR"


CIFAR10 = CifarLayout(
    "cifar10",
    "CIFAR-10",
    "cifar-10-batches-py",
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test_batch",
    "labels",
    10,
    CIFAR10_MEAN,
    CIFAR10_STD,
)
CIFAR100 = CifarLayout("cifar100", "CIFAR-100", "cifar-100-python", ("train",), "test", "fine_labels", 100, CIFAR100_MEAN, CIFAR100_STD)


# ---------------------------------------------------------------------------- reading
class _Refused(Exception):
    """The pickle asks for something a CIFAR batch never holds (a global, a class, …)."""


class _Malformed(Exception):
    """The opcode stream is truncated or does not make sense."""


class _Global:
    """A ``GLOBAL``/``STACK_GLOBAL`` of the allowlist, as a tag: never imported, never called."""

    __slots__ = ("kind", "qualname")

    def __init__(self, kind: str, qualname: str) -> None:
        self.kind = kind
        self.qualname = qualname

    def __str__(self) -> str:
        return self.qualname


class _DType:
    """``numpy.dtype(code, align, copy)`` from the pickle; ``dtype`` is set by its ``BUILD``."""

    __slots__ = ("code", "dtype")

    def __init__(self, code: str) -> None:
        self.code = code
        self.dtype: np.dtype | None = None

    def __str__(self) -> str:
        return f"numpy.dtype({self.code!r})"


class _PendingArray:
    """``_reconstruct(ndarray, (0,), b'b')`` waiting for its ``BUILD``; ``memo_keys`` are the
    memo entries that hold it, so that they can be pointed at the finished array."""

    __slots__ = ("qualname", "memo_keys")

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname
        self.memo_keys: list[int] = []

    def __str__(self) -> str:
        return self.qualname


#: The only globals a CIFAR batch refers to, and what each one is for.
_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy.core.numeric", "_frombuffer"): "frombuffer",  # protocol 5
    ("numpy._core.numeric", "_frombuffer"): "frombuffer",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "encode",  # bytes, as Python 3 writes them with protocol 2
    ("__builtin__", "bytes"): "bytes",  # b"" the same way
    ("builtins", "bytes"): "bytes",
}
#: Element types an array may have; the byte order comes from the dtype's state.
_DTYPE_CODES = frozenset({"u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f4", "f8"})
_BYTE_ORDERS = {"<": "<", ">": ">", "=": "=", "|": ""}
_LATIN1 = frozenset({"latin1", "iso88591", "l1"})  # spellings of latin-1, lower case, no - or _
_HIGHEST_PROTOCOL = 5

_PUSH_ARG = frozenset(
    {
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
        "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
        "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    }
)  # fmt: skip
_PUSH_CONST = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_STRINGS = frozenset({"STRING", "BINSTRING", "SHORT_BINSTRING"})  # Python 2 str: bytes here
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_REFUSED_OPCODES = {
    "PERSID": "a persistent id",
    "BINPERSID": "a persistent id",
    "EXT1": "an extension code",
    "EXT2": "an extension code",
    "EXT4": "an extension code",
    "NEXT_BUFFER": "an out-of-band buffer",
    "READONLY_BUFFER": "an out-of-band buffer",
}


def _is_int(value) -> bool:
    return type(value) is int


def _text(value) -> str | None:
    """``value`` as text when it is a str, or bytes as Python 2 wrote str; else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin1")
    return None


def _qualname(module: str, name: str) -> str:
    """``module.name`` for a message: shortened, and quoted when it holds unprintable text."""
    text = f"{module}.{name}"
    return (text if text.isprintable() else repr(text))[:200]


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _BatchReader:
    """Interprets the opcodes of a pickle that :func:`pickletools.genops` parses, building only
    dict, list, tuple, bytes, str, int, float, bool, None and numpy arrays.

    Nothing is imported and nothing from the file is called: the globals of :data:`_GLOBALS`
    become :class:`_Global` tags, and a numpy array is made only where ``REDUCE``/``BUILD``
    have exactly the shapes numpy's own pickles have — ``_reconstruct(ndarray, (0,), b'b')``
    then the state ``(version, shape, dtype, is_fortran, raw bytes)``, or in protocol 5
    ``_frombuffer(raw bytes, dtype, shape, order)`` — with ``dtype`` one of
    :data:`_DTYPE_CODES`, as ``np.frombuffer(raw, dtype).reshape(shape)`` copied (C order, the
    machine's byte order, so that ``torch.from_numpy`` takes it). Any other
    global, class or persistent id raises :class:`_Refused`; a truncated or inconsistent
    stream raises :class:`_Malformed` (or ``ValueError`` from ``genops``). Arrays may hold
    no more bytes in all than the file has (and so may byte strings decoded from text), so a
    small file cannot ask for a large allocation.
    """

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        # Bytes that arrays, and byte strings decoded from text, may still take: each at most
        # the file's size in all, so that reusing memo entries cannot multiply the memory.
        self.budget = {"array": len(blob), "text": len(blob)}
        self.stack: list = []
        self.metastack: list[list] = []
        self.memo: dict[int, object] = {}
        self.pos = 0

    # -- helpers
    def pop(self):
        if not self.stack:
            raise _Malformed(f"stack underflow at byte {self.pos}")
        return self.stack.pop()

    def pop_mark(self) -> list:
        if not self.metastack:
            raise _Malformed(f"no MARK before the opcode at byte {self.pos}")
        items, self.stack = self.stack, self.metastack.pop()
        return items

    def top(self, kind: type, opname: str):
        if not self.stack:
            raise _Malformed(f"stack underflow at byte {self.pos}")
        if not isinstance(self.stack[-1], kind):
            raise _Malformed(f"{opname} on a {type(self.stack[-1]).__name__} at byte {self.pos}")
        return self.stack[-1]

    def spend(self, what: str, nbytes: int) -> None:
        if nbytes > self.budget[what]:
            raise _Malformed(f"{what} data of {nbytes} bytes at byte {self.pos} is more than the file of {len(self.blob)} bytes holds")
        self.budget[what] -= nbytes

    def memoize(self, key) -> None:
        if not _is_int(key) or key < 0:
            raise _Malformed(f"memo key {key!r} at byte {self.pos}")
        if not self.stack:
            raise _Malformed(f"stack underflow at byte {self.pos}")
        value = self.stack[-1]
        self.memo[key] = value
        if isinstance(value, _PendingArray):
            value.memo_keys.append(key)

    def global_tag(self, module, name) -> _Global:
        if not isinstance(module, str) or not isinstance(name, str):
            raise _Malformed(f"STACK_GLOBAL of a {type(module).__name__} and a {type(name).__name__} at byte {self.pos}")
        kind = _GLOBALS.get((module, name))
        if kind is None:
            raise _Refused(_qualname(module, name))
        return _Global(kind, f"{module}.{name}")

    # -- numpy
    def dtype(self, value, opname: str) -> np.dtype:
        if not isinstance(value, _DType) or value.dtype is None:
            raise _Malformed(f"{opname} at byte {self.pos} without a built numpy.dtype")
        return value.dtype

    def array(self, raw, dtype: np.dtype, shape, order: str, axis_order=None) -> np.ndarray:
        if isinstance(raw, list):
            raise _Refused("an object array")
        if isinstance(raw, str):  # a Python 2 str read as text: its code points are the bytes
            raw = raw.encode("latin1")
        if not isinstance(raw, bytes):
            raise _Malformed(f"array data is a {type(raw).__name__} at byte {self.pos}")
        if not isinstance(shape, tuple) or not all(_is_int(n) and n >= 0 for n in shape):
            raise _Malformed(f"array shape {_short(shape)} at byte {self.pos}")
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        if nbytes > len(self.blob):
            raise _Malformed(f"an array of {nbytes} bytes declared at byte {self.pos} in a file of {len(self.blob)} bytes")
        if len(raw) != nbytes:
            raise _Malformed(f"an array of shape {list(shape)} and dtype {dtype.str} needs {nbytes} bytes, its data has {len(raw)}")
        self.spend("array", nbytes)
        flat = np.frombuffer(raw, dtype=dtype)
        native = dtype.newbyteorder("=")  # a C-ordered copy in the machine's byte order
        if axis_order is not None:
            if order != "K" or not isinstance(axis_order, tuple) or sorted(axis_order) != list(range(len(shape))):
                raise _Malformed(f"array axis order {_short(axis_order)} at byte {self.pos}")
            return flat.reshape(shape, order="C").transpose(axis_order).astype(native, order="C")
        if order not in ("C", "F"):
            raise _Malformed(f"array order {_short(order)} at byte {self.pos}")
        return flat.reshape(shape, order=order).astype(native, order="C")

    def reduce(self, func, args):
        if not isinstance(func, _Global):
            raise _Malformed(f"REDUCE of a {type(func).__name__} at byte {self.pos}")
        if not isinstance(args, tuple):
            raise _Malformed(f"REDUCE with arguments that are a {type(args).__name__} at byte {self.pos}")
        kind = func.kind
        if kind == "reconstruct" and len(args) == 3:
            cls, shape, code = args
            if isinstance(cls, _Global) and cls.kind == "ndarray" and shape == (0,) and _is_int(shape[0]) and _text(code) == "b":
                return _PendingArray(func.qualname)
        elif kind == "dtype" and len(args) == 3:
            code = _text(args[0])
            if code is not None and all(type(flag) in (bool, int) for flag in args[1:]):
                if code not in _DTYPE_CODES:
                    raise _Refused(f"numpy.dtype({code[:20]!r})")
                return _DType(code)
        elif kind == "frombuffer" and len(args) in (4, 5):
            raw, dtype, shape, order = args[:4]
            return self.array(raw, self.dtype(dtype, "_frombuffer"), shape, _text(order) or "", *args[4:])
        elif kind == "encode" and len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], str):
            if args[1].lower().replace("-", "").replace("_", "") not in _LATIN1:
                raise _Refused(f"_codecs.encode with encoding {args[1][:20]!r}")
            self.spend("text", len(args[0]))
            return args[0].encode("latin1")
        elif kind == "bytes" and args == ():
            return b""
        raise _Refused(f"{func.qualname} called with arguments a CIFAR batch never holds")

    def build(self, obj, state):
        """The object that ``BUILD`` with ``state`` makes of ``obj`` (the top of the stack)."""
        if isinstance(obj, _DType) and obj.dtype is None:
            if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
                raise _Malformed(f"numpy.dtype state {_short(state)} at byte {self.pos}")
            order = _BYTE_ORDERS.get(_text(state[1]) or "")
            if order is None or state[2:5] != (None, None, None) or state[5:7] != (-1, -1) or state[7] != 0 or state[8:] not in ((), (None,)):
                raise _Malformed(f"numpy.dtype state {_short(state)} at byte {self.pos}")
            dtype = np.dtype(order + obj.code)
            if order == "" and dtype.itemsize > 1:
                raise _Malformed(f"numpy.dtype {obj.code!r} without a byte order at byte {self.pos}")
            obj.dtype = dtype
            return obj
        if isinstance(obj, _PendingArray):
            if not isinstance(state, tuple) or len(state) not in (4, 5) or (len(state) == 5 and not _is_int(state[0])):
                raise _Malformed(f"numpy.ndarray state of a {type(state).__name__} at byte {self.pos}")
            shape, dtype, fortran, raw = state[-4:]
            if type(fortran) not in (bool, int) or fortran not in (0, 1):
                raise _Malformed(f"numpy.ndarray state with is_fortran {_short(fortran)} at byte {self.pos}")
            array = self.array(raw, self.dtype(dtype, "numpy.ndarray"), shape, "F" if fortran else "C")
            for key in obj.memo_keys:
                if self.memo.get(key) is obj:
                    self.memo[key] = array
            return array
        raise _Malformed(f"BUILD on a {type(obj).__name__} at byte {self.pos}")

    # -- the opcode loop
    def read(self):
        for opcode, arg, pos in pickletools.genops(self.blob):
            self.pos = pos = pos or 0
            name = opcode.name
            stack = self.stack
            if name in _PUSH_ARG:
                stack.append(arg)
            elif name == "BYTEARRAY8":  # protocol 5: numpy's in-band buffer
                stack.append(bytes(arg))
            elif name in _STRINGS:
                stack.append(arg.encode("latin1"))
            elif name in _PUSH_CONST:
                stack.append(_PUSH_CONST[name])
            elif name in _PUTS:
                self.memoize(arg)
            elif name == "MEMOIZE":
                self.memoize(len(self.memo))
            elif name in _GETS:
                if arg not in self.memo:
                    raise _Malformed(f"memo entry {arg} is missing at byte {pos}")
                stack.append(self.memo[arg])
            elif name == "MARK":
                self.metastack.append(stack)
                self.stack = []
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    raise _Malformed(f"stack underflow at byte {pos}")
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name == "TUPLE":
                items = tuple(self.pop_mark())
                self.stack.append(items)
            elif name == "LIST":
                items = self.pop_mark()
                self.stack.append(items)
            elif name == "DICT":
                items = self.pop_mark()
                if len(items) % 2:
                    raise _Malformed(f"DICT of an odd number of items at byte {pos}")
                self.stack.append(dict(zip(items[::2], items[1::2])))
            elif name == "APPEND":
                value = self.pop()
                self.top(list, name).append(value)
            elif name == "APPENDS":
                items = self.pop_mark()
                self.top(list, name).extend(items)
            elif name == "SETITEM":
                value, key = self.pop(), self.pop()
                self.top(dict, name)[key] = value
            elif name == "SETITEMS":
                items = self.pop_mark()
                if len(items) % 2:
                    raise _Malformed(f"SETITEMS of an odd number of items at byte {pos}")
                self.top(dict, name).update(zip(items[::2], items[1::2]))
            elif name == "POP":
                if stack:
                    stack.pop()
                else:
                    self.pop_mark()
            elif name == "POP_MARK":
                self.pop_mark()
            elif name == "DUP":
                if not stack:
                    raise _Malformed(f"stack underflow at byte {pos}")
                stack.append(stack[-1])
            elif name == "GLOBAL":
                module, _, attr = arg.partition(" ")
                stack.append(self.global_tag(module, attr))
            elif name == "STACK_GLOBAL":
                attr, module = self.pop(), self.pop()
                self.stack.append(self.global_tag(module, attr))
            elif name == "REDUCE":
                args, func = self.pop(), self.pop()
                self.stack.append(self.reduce(func, args))
            elif name == "BUILD":
                state = self.pop()
                if not self.stack:
                    raise _Malformed(f"stack underflow at byte {pos}")
                self.stack[-1] = self.build(self.stack[-1], state)
            elif name == "INST":
                module, _, attr = arg.partition(" ")
                raise _Refused(_qualname(module, attr))
            elif name in ("OBJ", "NEWOBJ", "NEWOBJ_EX"):
                items = self.pop_mark() if name == "OBJ" else [self.pop() for _ in range(2 if name == "NEWOBJ" else 3)][::-1]
                cls = items[0] if items else None
                raise _Refused(f"{cls} (through {name})" if isinstance(cls, (_Global, _PendingArray, _DType)) else f"an object made by {name}")
            elif name in _REFUSED_OPCODES:
                raise _Refused(_REFUSED_OPCODES[name] + (f" {arg}" if name.startswith("EXT") else ""))
            elif name == "PROTO":
                if arg > _HIGHEST_PROTOCOL:
                    raise _Malformed(f"pickle protocol {arg}")
            elif name == "FRAME":
                if arg > len(self.blob) - pos:
                    raise _Malformed(f"a frame of {arg} bytes at byte {pos} runs past the end of the file")
            elif name == "STOP":
                result = self.pop()
                self.check(result)
                return result
            else:  # sets, frozensets, …: never in a CIFAR batch
                raise _Refused(f"the opcode {name}")
        raise _Malformed("no STOP opcode")  # genops raises first; kept for safety

    def check(self, result) -> None:
        """Refuse a result that still holds a tag: a global, dtype or array never finished."""
        todo, seen = [result], set()
        while todo:
            value = todo.pop()
            if isinstance(value, (_Global, _DType, _PendingArray)):
                raise _Refused(f"{value} outside a finished array")
            if isinstance(value, (list, tuple, dict)) and id(value) not in seen:
                seen.add(id(value))
                if isinstance(value, dict):
                    todo.extend(value.keys())
                    todo.extend(value.values())
                else:
                    todo.extend(value)


def _first_line(err: BaseException, limit: int = 200) -> str:
    text = str(err).strip().splitlines()
    line = f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def read_batch(path: str | Path, label_key: str, num_classes: int, *, expected: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one CIFAR pickle: uint8 ``[N, 3, 32, 32]`` and int64 ``[N]``.

    The file must be a dict with ``data``, a uint8 array ``[N, 3072]``, and ``label_key``, a
    list of ``N`` ints in ``0 … num_classes − 1`` (keys as ``bytes`` or ``str``). The file is
    parsed, never unpickled (see :class:`_BatchReader`). A missing, truncated or malformed file
    raises :class:`DataError` with a one-line message ending in ``expected``.
    """
    path = Path(path)
    suffix = f"; {expected}" if expected else ""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} is missing{suffix}") from None
    except OSError as err:
        raise DataError(f"cannot read {path} ({err.strerror or _first_line(err)}){suffix}") from None
    try:
        batch = _BatchReader(blob).read()
    except _Refused as err:
        raise DataError(f"{path} is not a CIFAR batch: its pickle refers to {err}, which is refused{suffix}") from None
    except _Malformed as err:
        raise DataError(f"{path} is not a readable CIFAR batch (truncated or corrupted: {str(err)[:200]}){suffix}") from None
    except Exception as err:  # from genops: ValueError on a truncated stream or unknown opcode, ...
        raise DataError(f"{path} is not a readable CIFAR batch (truncated or corrupted: {_first_line(err)}){suffix}") from None

    def malformed(what: str) -> DataError:
        return DataError(f"{path} is not a CIFAR batch: {what}{suffix}")

    if not isinstance(batch, dict):
        raise malformed(f"it holds a {type(batch).__name__}, not a dict")
    entries = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    for key in ("data", label_key):
        if key not in entries:
            found = ", ".join(sorted(repr(k) for k in entries)) or "none"
            raise malformed(f"no {key!r} entry (keys: {found})")
    data, labels = entries["data"], entries[label_key]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        shape = f"{data.dtype} array of shape {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise malformed(f"'data' is a {shape}, expected a uint8 array [N, {PIXELS}]")
    if not isinstance(labels, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise malformed(f"{label_key!r} is not a list of ints")
    if len(labels) != len(data):
        raise malformed(f"{len(labels)} labels for {len(data)} images")
    outside = next((v for v in labels if not 0 <= v < num_classes), None)
    if outside is not None:
        raise malformed(f"label {outside} is outside 0 … {num_classes - 1}")
    images = np.require(data, requirements=["C", "W"]).reshape(len(data), 3, IMAGE_SIZE, IMAGE_SIZE)
    return images, np.asarray(labels, dtype=np.int64).reshape(len(labels))


def find_folder(root: str | Path | None, layout: CifarLayout) -> Path:
    """The folder holding ``layout``'s files: ``root/<layout.folder>`` or ``root`` itself."""
    if root is None:
        raise DataError(f"{layout.name} is read from files on disk and no data folder was given; {layout.expected}")
    root = Path(root).expanduser()
    nested = root / layout.folder
    if nested.is_dir():
        return nested
    if any((root / f).is_file() for f in (*layout.train_files, layout.test_file)):
        return root
    raise DataError(f"no {layout.title} files in {root}; {layout.expected}")


def read_cifar(root: str | Path | None, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels) of ``layout`` under ``root``,
    images uint8 ``[N, 3, 32, 32]``, labels int64 ``[N]``, in file order."""
    folder = find_folder(root, layout)
    parts = [read_batch(folder / f, layout.label_key, layout.num_classes, expected=layout.expected) for f in layout.train_files]
    train_images = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
    train_labels = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
    del parts
    test_images, test_labels = read_batch(folder / layout.test_file, layout.label_key, layout.num_classes, expected=layout.expected)
    return train_images, train_labels, test_images, test_labels


# ---------------------------------------------------------------------------- transforms
#: The in-memory image dataset CIFAR uses, under its old name (the same class, moved to
#: :mod:`evaluators.data` so that every image data set shares it).
CifarImages = MemoryImages


# ---------------------------------------------------------------------------- loaders
def load_cifar(
    layout: CifarLayout, *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, augment: bool = True
) -> DataSplit:
    """The :class:`DataSplit` of ``layout`` read from ``root``: ``val_fraction`` of the
    training images held out for validation (stratified, seeded by ``seed``); the rest
    for training, augmented by random crops and flips unless ``augment`` is False; the test
    batch as it is."""
    train_images, train_labels, test_images, test_labels = read_cifar(root, layout)
    kept, held = stratified_split(train_labels, val_fraction, seed)
    images, labels = torch.from_numpy(train_images), torch.from_numpy(train_labels)
    kept_t, held_t = torch.from_numpy(kept), torch.from_numpy(held)
    stats = (layout.mean, layout.std)
    train = CifarImages(images[kept_t], labels[kept_t], *stats, augment=augment)
    val = CifarImages(images[held_t], labels[held_t], *stats)
    del images, train_images
    test = CifarImages(torch.from_numpy(test_images), torch.from_numpy(test_labels), *stats)
    return DataSplit(layout.name, train, val, test, (3, IMAGE_SIZE, IMAGE_SIZE), layout.num_classes)


@register_dataset("cifar10", (3, IMAGE_SIZE, IMAGE_SIZE), 10)
def load_cifar10(
    *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, augment: bool = True
) -> DataSplit:
    """CIFAR-10 from ``root``/cifar-10-batches-py (or ``root`` itself): 50,000 training images
    in data_batch_1 … 5, 10,000 test images in test_batch; see :func:`load_cifar`."""
    return load_cifar(CIFAR10, seed=seed, root=root, val_fraction=val_fraction, augment=augment)


@register_dataset("cifar100", (3, IMAGE_SIZE, IMAGE_SIZE), 100)
def load_cifar100(
    *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, augment: bool = True
) -> DataSplit:
    """CIFAR-100 from ``root``/cifar-100-python (or ``root`` itself) with its 100 fine labels:
    50,000 training images in train, 10,000 test images in test; see :func:`load_cifar`."""
    return load_cifar(CIFAR100, seed=seed, root=root, val_fraction=val_fraction, augment=augment)
