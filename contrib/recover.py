#!/usr/bin/env python3
"""Restore a whole fernetfs vault with Python's `cryptography` package alone.

Usage: FERNETFS_PASSWORD=... python3 recover.py BACKING OUTDIR
   or: FERNETFS_RECOVERY_KEY=... python3 recover.py BACKING OUTDIR

Written from vault/FORMAT.md and exactly as strict: what fernetfs refuses,
this refuses. A damaged file, name or link is reported on one line and left
out; the rest is restored. Exit status: 0 restored; 1 other error (I/O);
2 usage; 3 wrong password or recovery key; 4 not a vault, or a malformed or unsupported
header; 5 tampered header, or damaged data left out.
"""
import base64, errno, hashlib, hmac, json, os, re, stat, struct, sys, tempfile
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC


def fail(status, msg):
    print("recover.py: " + msg, file=sys.stderr)
    sys.exit(status)


class Damaged(Exception):
    """Data that FORMAT.md says to reject: reported, left out, exit status 5."""


def read_small(dir_fd, name, limit=None):
    """A file the backing tree holds, read as FORMAT.md says untrusted files are:
    not through a symlink, never blocking on a FIFO, at most limit bytes."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Damaged("%r is not a regular file" % name)
        data = bytearray()
        while limit is None or len(data) <= limit:  # one byte more shows it is too long
            more = os.read(fd, 1 << 20 if limit is None else limit + 1 - len(data))
            if not more:
                break
            data += more
    finally:
        os.close(fd)
    if limit is not None and len(data) > limit:
        raise Damaged("%r is larger than %d bytes" % (name, limit))
    return bytes(data)


def canonical_b64(text, altchars=None):
    """The bytes of canonical base64 (RFC 4648 section 3.5: `=` padding, zero
    pad bits, nothing outside the alphabet); ValueError for any other text."""
    raw = base64.b64decode(text, altchars)
    if base64.b64encode(raw, altchars) != text:
        raise ValueError("not canonical base64")
    return raw


# The header, held to FORMAT.md's "Vault header" and "Header syntax".
MEMBERS = {"format": int, "features": list, "kdf": dict, "chunk_size": int,
           "wrapped_master_key": str, "created_by": str, "mac": str}
KDF_MEMBERS = {"name": str, "iterations": int, "salt": str}
FEATURES = ("encrypted-names", "plaintext-names", "reverse")


def unique_members(pairs):
    seen = set()
    for name, _ in pairs:
        if name in seen:
            raise ValueError("duplicate member %r" % name)
        seen.add(name)
    return dict(pairs)


def no_fractions(number):  # 1.0, 1e0, NaN and Infinity are not integers
    raise ValueError("%s is not an integer written without fraction or exponent" % number)


def check_members(obj, spec, what):
    if type(obj) is not dict:
        raise ValueError("%s must be an object" % what)
    for name in obj:
        if name not in spec:
            raise ValueError("%s: unknown member %r (member names are case-sensitive)" % (what, name))
    for name, kind in spec.items():
        if name not in obj and name != "created_by":  # the only optional member
            raise ValueError("%s: missing member %r" % (what, name))
        if name in obj and type(obj[name]) is not kind:  # bool is no int here, null no value
            raise ValueError("member %r must be of type %s" % (name, kind.__name__))


def parse_header(data):
    """The header as a dict, or exit status 4 if FORMAT.md says to reject it."""
    try:
        if len(data) > 65536:
            raise ValueError("larger than 65536 bytes")
        hdr = json.loads(data.decode("utf-8"), object_pairs_hook=unique_members,
                         parse_float=no_fractions, parse_constant=no_fractions)
        check_members(hdr, MEMBERS, "header")
        check_members(hdr["kdf"], KDF_MEMBERS, "member 'kdf'")
        features = hdr["features"]
        if any(type(f) is not str for f in features):
            raise ValueError("features must be strings")
        if hdr["format"] != 1:
            fail(4, "unsupported vault format: format version %d (this program reads 1)" % hdr["format"])
        for f in features:
            if f not in FEATURES:
                fail(4, "unsupported vault format: unknown feature flag %r" % f)
        if ("encrypted-names" in features) == ("plaintext-names" in features):
            raise ValueError("exactly one of 'encrypted-names' and 'plaintext-names' must be set")
        if features != sorted(set(features)):
            raise ValueError("feature flags must be sorted and unique")
        if hdr["kdf"]["name"] != "pbkdf2-sha256":
            fail(4, "unsupported vault format: unknown kdf %r" % hdr["kdf"]["name"])
        if not 1 <= hdr["kdf"]["iterations"] <= 100_000_000:
            raise ValueError("iterations %d out of range" % hdr["kdf"]["iterations"])
        for name, value in (("kdf.salt", hdr["kdf"]["salt"]), ("mac", hdr["mac"])):
            if not value.isascii() or len(canonical_b64(value.encode())) != 32:
                raise ValueError("%s must be canonical base64 of 32 bytes" % name)
        if hdr["chunk_size"] % 16 or not 64 <= hdr["chunk_size"] <= 1 << 20:
            raise ValueError("chunk size %d: must be a multiple of 16 from 64 to 1048576" % hdr["chunk_size"])
        wrapped = hdr["wrapped_master_key"].encode("utf-8", "surrogatepass")
        if len(wrapped) != token_len(32):
            raise ValueError("wrapped master key has the wrong length")
        try:  # a token's form needs no key: not a token is no wrong password
            raw = canonical_b64(wrapped, b"-_")
        except ValueError:
            raw = b""
        if len(raw) < 73 or (len(raw) - 57) % 16 or raw[0] != 0x80:
            raise ValueError("wrapped master key is not a Fernet token")
        if "created_by" in hdr and not re.fullmatch("[\x20-\x7e]{1,128}", hdr["created_by"]):
            raise ValueError("created_by must be 1 to 128 bytes of printable ASCII")
        if "reverse" in features:
            fail(4, "unsupported vault format: this is the header of a reverse vault")
    except (ValueError, RecursionError) as e:  # also JSON syntax and UTF-8 errors
        fail(4, "malformed vault header: %s" % " ".join(str(e).split()))
    return hdr


def token_len(n):
    """Length of the Fernet token of n plaintext bytes."""
    return 4 * -(-(73 + 16 * (n // 16)) // 3)


def open_token(key, token):
    """Plaintext and timestamp of a token, which must be canonical base64url."""
    try:
        raw = canonical_b64(token, b"-_")
        return key.decrypt(token), int.from_bytes(raw[1:9], "big")
    except (InvalidToken, ValueError):  # a binascii.Error from the base64 is a ValueError
        raise Damaged("token does not verify") from None


def parse_recovery_key(text):
    """The master key from recovery key text (FORMAT.md "Recovery key")."""
    clean = "".join(c.upper() if len(c.upper()) == 1 else c for c in text if c not in "- \t\r\n")
    try:
        raw = base64.b32decode(clean) if re.fullmatch("[A-Z2-7]{56}", clean) else b""
    except ValueError:
        raw = b""
    if len(raw) != 35:
        fail(3, "malformed recovery key: expected 56 base32 characters")
    if hashlib.sha256(raw[:32]).digest()[:3] != raw[32:]:
        fail(3, "malformed recovery key: checksum mismatch (typo?)")
    return raw[:32]


credentials = [k for k in (b"FERNETFS_PASSWORD", b"FERNETFS_RECOVERY_KEY") if k in os.environb]
if len(sys.argv) != 3 or len(credentials) != 1:
    fail(2, "usage: FERNETFS_PASSWORD=... (or FERNETFS_RECOVERY_KEY=...) python3 recover.py BACKING OUTDIR")
backing, outdir = sys.argv[1], sys.argv[2]
try:
    root = os.open(backing, os.O_RDONLY | os.O_DIRECTORY)
    data = read_small(root, "fernetfs.json", 65536)
except FileNotFoundError:
    fail(4, "not a fernetfs vault: %r has no fernetfs.json" % backing)
except OSError as e:
    if e.errno != errno.ELOOP:
        fail(1, "reading fernetfs.json: %s" % e.strerror)
    fail(4, "malformed vault header: 'fernetfs.json' is a symbolic link, not a regular file")
except Damaged as e:  # a FIFO, directory or device, or too long
    fail(4, "malformed vault header: %s" % e)
hdr = parse_header(data)
salt, rounds = base64.b64decode(hdr["kdf"]["salt"]), hdr["kdf"]["iterations"]
fernet = lambda key: Fernet(base64.urlsafe_b64encode(key))
if credentials[0] == b"FERNETFS_RECOVERY_KEY":
    master = parse_recovery_key(os.environ["FERNETFS_RECOVERY_KEY"])
else:
    kek = PBKDF2HMAC(SHA256(), 32, salt, rounds).derive(os.environb[b"FERNETFS_PASSWORD"])
    wrapped = hdr["wrapped_master_key"].encode()
    raw = base64.urlsafe_b64decode(wrapped)
    if not hmac.compare_digest(hmac.digest(kek[:16], raw[:-32], "sha256"), raw[-32:]):
        fail(3, "wrong password")  # a wrong password fails the MAC, and only it
    try:
        master, _ = open_token(fernet(kek), wrapped)
    except Damaged:  # the password is right, the token bad (its padding)
        fail(4, "malformed vault header: wrapped master key does not decrypt")
if len(master) != 32:
    fail(4, "malformed vault header: wrapped master key is %d bytes" % len(master))
derive = lambda label, salt=None: HKDF(SHA256(), 32, salt, label.encode()).derive(master)
mac_input = "fernetfs header mac v1\nformat=1\nfeatures=%s\nkdf=%s\niterations=%d\nsalt=%s\n" % (
    ",".join(hdr["features"]), hdr["kdf"]["name"], rounds, hdr["kdf"]["salt"])
mac_input += "chunk_size=%d\nwrapped_master_key=%s\n" % (hdr["chunk_size"], hdr["wrapped_master_key"])
if "created_by" in hdr:
    mac_input += "created_by=%s\n" % hdr["created_by"]
mac = hmac.digest(derive("fernetfs v1 header mac key"), mac_input.encode(), "sha256")
if not hmac.compare_digest(mac, base64.b64decode(hdr["mac"])):
    if credentials[0] == b"FERNETFS_RECOVERY_KEY":
        fail(3, "recovery key does not match this vault (or its header was tampered with)")
    fail(5, "vault header MAC mismatch (tampered header)")
names = fernet(derive("fernetfs v1 name key"))
name_iv_key = derive("fernetfs v1 name iv key")
links = fernet(derive("fernetfs v1 symlink key"))
chunk = hdr["chunk_size"]
line_len = token_len(chunk) + 1  # a full chunk's line
plain_names = "plaintext-names" in hdr["features"]


# A sync tool's conflict copy: a suffix at the end of a name or before its extension.
LABEL = r"(?:\.(sync-conflict-[0-9]{8}-[0-9]{6}-[A-Z0-9]{7}|conflict[0-9]{1,9})|"
LABEL += r" \(((?:[^()/]{1,100}'s )?conflicted copy [0-9]{4}-[0-9]{2}-[0-9]{2}(?: [0-9]{6})?)\))"
CONFLICT = [re.compile(r"(.+)" + LABEL + r"()", re.S), re.compile(r"(.+)" + LABEL + r"(\.[^.]*)", re.S)]


def split_conflict(name):
    for regex in CONFLICT:
        m = regex.fullmatch(name)
        if m:
            return m[1] + m[4], m[2] or m[3]
    return None, None


def conflict_base(name):  # the name a copy (of a copy, up to 4 deep) was made from
    for _ in range(4):
        base, _ = split_conflict(name)
        if not base:
            break
        name = base
    return name


def is_hash_name(prefix, name):  # the form of a long name or long link (43: the hash)
    return name.startswith(prefix) and len(os.fsencode(name)) == len(prefix) + 43


def is_long_name(name):
    return is_hash_name("fernetfs.longname.", name)


def hash_name(prefix, token):  # a long name or long link: the hash of its token
    return prefix + base64.urlsafe_b64encode(hashlib.sha256(token).digest()).rstrip(b"=").decode()


def is_metadata(name):
    """Backing names that are vault metadata, not entries (never listed)."""
    reserved = lambda n: n.startswith(("fernetfs.", ".fernetfs."))
    if plain_names:
        return reserved(name)
    base = conflict_base(name)
    return not is_long_name(base) and (reserved(name) or reserved(base))


def check_plain_name(plain):
    if plain in (b"", b".", b"..") or len(plain) > 255 or b"/" in plain or b"\0" in plain:
        raise Damaged("decrypts to an impossible name %r" % plain)


def decrypt_name(dir_fd, name, ivs):
    """The name a backing name encrypts, and the label of the directory IV copy
    it was sealed under (None: fernetfs.diriv)."""
    token, long = os.fsencode(name), name.startswith("fernetfs.longname.")
    if long:  # long names keep their token beside them
        if not is_long_name(name):
            raise Damaged("malformed long name")
        try:
            token = read_small(dir_fd, name + ".name", 1024)
        except OSError as e:
            raise Damaged("long-name sidecar: %s" % e.strerror)
        if hash_name("fernetfs.longname.", token) != name:
            raise Damaged("long-name sidecar does not match its hash")
    plain, stamp = open_token(names, token)
    iv = base64.urlsafe_b64decode(token)[9:25]
    labels = [l for d, l in ivs.items() if hmac.digest(name_iv_key, d + plain, "sha256")[:16] == iv]
    if stamp != 0 or not labels:  # then this is not the token this directory gives the name
        raise Damaged("not a name sealed in this directory")
    check_plain_name(plain)
    if (len(token) > 255) != long:
        raise Damaged("name stored in the wrong (long/short) form")
    return plain, labels[0]


def plain_name(dir_fd, name, ivs, depth=0):
    """decrypt_name, or for a conflict copy "NAME (conflict LABEL)"."""
    try:
        return decrypt_name(dir_fd, name, ivs)
    except Damaged as error:
        base, label = split_conflict(name)
        if not base or depth == 4:
            raise
        try:
            plain, iv_label = plain_name(dir_fd, base, ivs, depth + 1)
        except Damaged:
            raise error from None
        shown = plain + b" (conflict " + os.fsencode(label) + b")"
        if len(shown) > 255:
            raise Damaged("conflict copy of a name too long to show with its label")
        return shown, iv_label


def directory_ivs(dir_fd, entries):
    """Directory IV -> label of its conflict copy (None: fernetfs.diriv)."""
    try:
        main = read_small(dir_fd, "fernetfs.diriv", 16)
    except OSError as e:
        raise Damaged("fernetfs.diriv: %s" % e.strerror)
    if len(main) != 16:
        raise Damaged("fernetfs.diriv is not 16 bytes")
    ivs = {main: None}
    for name in entries:
        base, label = split_conflict(name)
        if base and conflict_base(base) == "fernetfs.diriv":
            try:
                iv = read_small(dir_fd, name, 16)
            except (OSError, Damaged):
                continue  # the names it would decrypt are reported as damaged
            if len(iv) == 16 and iv != main:  # the smallest label names the copies of one IV
                ivs[iv] = min(label, ivs.get(iv) or label)
    return ivs


CRC32C = []
for n in range(256):
    for _ in range(8):
        n = (n >> 1) ^ (0x82F63B78 & -(n & 1))
    CRC32C.append(n)


def crc32c(b):  # CRC-32C (Castagnoli): a journal record torn by the kill fails it
    c = 0xFFFFFFFF
    for x in b:
        c = CRC32C[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def journal_records():
    """A killed mount's undo journals: file ID -> [(seq, offset, old bytes)]."""
    slot = -(-(48 + max(2 * line_len + 16, 65536)) // 4096) * 4096
    recs = {}
    for name in os.listdir(root):
        if not name.startswith("fernetfs.journal."):
            continue
        try:
            data = read_small(root, name, 64 * slot)
        except (OSError, Damaged) as e:  # readers report it and leave it alone
            print("recover.py: journal %r ignored: %s" % (name, e), file=sys.stderr)
            continue
        for at in range(0, len(data), slot):
            r = data[at : at + slot]
            if r[:8] != b"FFSJRNL1" or len(r) < 48:
                continue
            seq, fid, off, n, crc = struct.unpack(">Q16sQII", r[8:48])
            if 45 <= off <= 2**62 and 1 <= n <= len(r) - 48 and crc32c(r[:44] + r[48 : 48 + n]) == crc:
                recs.setdefault(fid, []).append((seq, off, r[48 : 48 + n]))
    return recs


def line_ok(key, i, line):
    """The length of chunk i's line if line starts with its token, else 0."""
    token = line[: line_len - 1].split(b"\n")[0]
    try:
        plain, stamp = open_token(key, token)
    except Damaged:
        return 0
    if stamp % 2**63 != i or not 1 <= len(plain) <= chunk or (stamp < 2**63 and len(plain) != chunk):
        return 0
    return line_len if stamp < 2**63 else len(token) + 16 - len(plain) % 16


class Backing:
    """A content file, read a few lines at a time (never whole: it may be far
    larger than memory), with the lines the journal puts back laid over it as
    `fsck --repair` would write them (past the end: the file grows)."""

    def __init__(self, fd):
        self.fd, self.size = fd, os.fstat(fd).st_size
        self.end, self.patches = self.size, []

    def read(self, off, n):
        """Up to n bytes from off (fewer at the end)."""
        n = max(0, min(n, self.end - off))
        buf = bytearray()
        while len(buf) < min(n, self.size - off):
            more = os.pread(self.fd, min(n, self.size - off) - len(buf), off + len(buf))
            if not more:
                raise Damaged("file changed while it was read")
            buf += more
        buf += bytes(n - len(buf))  # a journal copy written past the end, after a gap
        for at, b in self.patches:
            lo, hi = max(at, off), min(at + len(b), off + n)
            if lo < hi:
                buf[lo - off : hi - off] = b[lo - at : hi - at]
        return bytes(buf)

    def write(self, off, b):
        self.patches.append((off, b))
        self.end = max(self.end, off + len(b))

    def check_end(self):
        if os.pread(self.fd, 1, self.size) or os.fstat(self.fd).st_size != self.size:
            raise Damaged("file changed while it was read")


def put_back(data, key, recs):
    """Lines a kill tore in place, back from the newest journal copy that verifies."""
    done, most = set(), line_len + 15  # a last line of a full chunk is the longest
    for seq, off, old in sorted(recs, reverse=True):
        for i in range((off - 45) // line_len, (off + len(old) - 46) // line_len + 1):
            lo = 45 + i * line_len
            cur = data.read(lo, most)
            n = line_ok(key, i, cur)
            if i in done or lo >= data.end or (n and (n < line_len or cur[n - 1 : n] == b"\n")):
                continue  # sound (a final token's newlines are checked later)
            if not cur[:line_len].strip(b"\0"):
                continue  # a hole
            a, b = max(off, lo), min(off + len(old), lo + most)
            cand = bytearray(cur.ljust(most, b"\0"))
            cand[a - lo : b - lo] = old[a - off : b - off]
            n = line_ok(key, i, bytes(cand))
            hole = off <= lo and lo + line_len <= off + len(old) and not old[lo - off : lo - off + line_len].strip(b"\0")
            if not n and hole and lo + line_len < data.end:
                n = line_len  # it was a hole, not the last line
            if n:
                data.write(a, old[a - off : min(b, lo + n) - off])
                done.add(i)


def open_chunk(key, i, token, last):
    """Chunk i's plaintext; its timestamp holds i (top bit: the last chunk)."""
    try:
        plain, stamp = open_token(key, token)
    except Damaged:
        raise Damaged("chunk %d does not verify" % i)
    if stamp % 2**63 != i:
        raise Damaged("chunk %d out of place" % i)
    if last and stamp < 2**63:
        raise Damaged("file cut short (chunk %d is not marked last)" % i)
    if last and not 1 <= len(plain) <= chunk:
        raise Damaged("chunk %d: last chunk of %d bytes" % (i, len(plain)))
    if not last and stamp >= 2**63:
        raise Damaged("data after the last chunk (chunk %d)" % i)
    if not last and len(plain) != chunk:
        raise Damaged("chunk %d holds %d bytes, not %d" % (i, len(plain), chunk))
    return plain


def decrypt_content(data, out):
    """A content file: "fernetfs/v1 FILEID" LF, full lines of line_len bytes
    (token LF, or all NUL: a hole), then the last token followed by p LFs."""
    if data.size:
        m = re.fullmatch(b"fernetfs/v1 ([0-9a-f]{32})\n", data.read(0, 45))
        if not m:
            raise Damaged("malformed file header")
        file_id = bytes.fromhex(m[1].decode())
        key = fernet(derive("fernetfs v1 content key", file_id))
        put_back(data, key, journal.get(file_id, []))
        body = data.end - 45
        if body < token_len(15) + 1:  # the shortest last line
            raise Damaged("file cut short (%d bytes)" % data.end)
        full = (body - token_len(15) - 1) // line_len  # lines before the last one
        step = max(1, (1 << 20) // line_len)  # lines read at a time
        for at in range(0, full, step):
            block = data.read(45 + at * line_len, min(step, full - at) * line_len)
            for i in range(at, min(at + step, full)):
                line = block[(i - at) * line_len : (i - at + 1) * line_len]
                if not line.strip(b"\0"):  # a hole: C zero bytes
                    out.write(bytes(chunk))
                elif line[-1] != ord("\n"):
                    raise Damaged("chunk %d: line does not end in LF" % i)
                else:
                    out.write(open_chunk(key, i, line[:-1], last=False))
        rest = data.read(45 + full * line_len, body - full * line_len)  # less than 2 lines
        token = rest.split(b"\n")[0]
        plain = open_chunk(key, full, token, last=True)
        if rest[len(token) :] != b"\n" * (16 - len(plain) % 16):  # p = its PKCS7 pad length
            raise Damaged("chunk %d: not followed by exactly its pad length of LFs" % full)
        out.write(plain)
    data.check_end()  # an empty file is an empty backing file


def link_target(link):
    """A symlink's target: its backing target is a token, or names the long-link
    sidecar in BACKING that holds the token."""
    token = os.fsencode(link)
    if link.startswith("fernetfs.longlink."):
        if not is_hash_name("fernetfs.longlink.", link):
            raise Damaged("malformed long link")
        try:
            token = read_small(root, link, token_len(4095))
        except OSError as e:
            raise Damaged("long link sidecar: %s" % e.strerror)
        if hash_name("fernetfs.longlink.", token) != link:
            raise Damaged("long link sidecar does not match its hash")
    plain, stamp = open_token(links, token)
    if stamp != 0 or not plain or b"\0" in plain:
        raise Damaged("symlink target has a non-zero timestamp, or is empty or contains NUL")
    if (len(token) > 4095) != link.startswith("fernetfs.longlink."):
        raise Damaged("symlink target stored in the wrong (long/short) form")
    return os.fsdecode(plain)


def restore(dir_fd, dst, shown):
    """Restore the backing directory open as dir_fd into dst (shown as shown)."""
    backing_names = sorted(os.listdir(dir_fd))
    entries = [name for name in backing_names if not is_metadata(name)]
    plain, ivs = {}, None if plain_names else directory_ivs(dir_fd, backing_names)
    os.makedirs(dst, exist_ok=dst == outdir)
    for name in entries:
        try:
            plain[name] = (os.fsencode(name), None) if plain_names else plain_name(dir_fd, name, ivs)
        except Damaged as e:
            damaged("%r: backing name %r" % (shown, name), e)
    mains = {p for p, label in plain.values() if label is None}
    for name, (p, label) in plain.items():
        if label and p in mains:  # a name made on two machines in one new directory
            p = b"%s (conflict %s)" % (p, os.fsencode(label))
        d, path = os.path.join(dst, os.fsdecode(p)), os.path.join(shown, os.fsdecode(p))
        try:
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                os.symlink(link_target(os.readlink(name, dir_fd=dir_fd)), d)
            elif stat.S_ISDIR(mode):
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                try:
                    restore(fd, d, path)
                finally:
                    os.close(fd)
            elif stat.S_ISFIFO(mode):  # FIFOs are kept as FIFOs, with no content
                os.mkfifo(d)
            elif stat.S_ISREG(mode):
                restore_file(dir_fd, name, d)
            else:  # sockets, device nodes: never opened
                print("recover.py: skipped special file %r" % path, file=sys.stderr)
        except Damaged as e:
            damaged(repr(path), e)
        except FileExistsError:  # restoring it would write through what is there
            damaged(repr(path), "another entry has this name")


def restore_file(dir_fd, name, dst):
    """Decrypt into a temporary file beside dst, put in place only once the
    whole file verified: a damaged file is left out, never restored short."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since it was listed
            raise Damaged("%r is not a regular file" % name)
        tmp_fd, tmp = tempfile.mkstemp(prefix=".recover.py-", dir=os.path.dirname(dst))
        try:
            with open(tmp_fd, "wb") as out:
                decrypt_content(Backing(fd), out)
                os.fchmod(out.fileno(), 0o666 & ~umask)
            try:
                os.link(tmp, dst)  # unlike rename, never replaces what is there
            except OSError as e:
                if e.errno == errno.EEXIST or os.path.lexists(dst):
                    raise FileExistsError(dst) from None
                os.rename(tmp, dst)  # a filesystem without hard links (FAT)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    finally:
        os.close(fd)


def damaged(what, error):
    print("recover.py: %s: %s" % (what, error), file=sys.stderr)
    problems.append(what)


problems, umask = [], os.umask(0o022)
os.umask(umask)  # restored files get the mode a new file gets here
try:
    journal = journal_records()
    restore(root, outdir, "/")
except Damaged as e:  # the root's directory IV
    damaged("'/'", e)
except OSError as e:
    fail(1, str(e))
sys.exit(5 if problems else 0)
