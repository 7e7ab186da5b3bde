#!/usr/bin/env python3
"""Restore a whole fernetfs vault with Python's `cryptography` package alone.

Usage: FERNETFS_PASSWORD=... python3 recover.py BACKING OUTDIR
"""
import base64, hmac, json, os, re, stat, struct, sys
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

backing, outdir = sys.argv[1], sys.argv[2]
hdr = json.load(open(os.path.join(backing, "fernetfs.json")))
salt, rounds = base64.b64decode(hdr["kdf"]["salt"]), hdr["kdf"]["iterations"]
kek = PBKDF2HMAC(SHA256(), 32, salt, rounds).derive(os.environb[b"FERNETFS_PASSWORD"])
fernet = lambda key: Fernet(base64.urlsafe_b64encode(key))
master = fernet(kek).decrypt(hdr["wrapped_master_key"])
derive = lambda label, salt=None: HKDF(SHA256(), 32, salt, label.encode()).derive(master)
names = fernet(derive("fernetfs v1 name key"))
name_iv_key = derive("fernetfs v1 name iv key")
links = fernet(derive("fernetfs v1 symlink key"))
chunk = hdr["chunk_size"]
line_len = len(base64.urlsafe_b64encode(bytes(73 + chunk))) + 1  # a full chunk's line


# A sync tool's conflict copy: a suffix at the end of a name or before its extension.
LABEL = r"(?:\.(sync-conflict-\d{8}-\d{6}-[A-Z0-9]{7}|conflict\d{1,9})|"
LABEL += r" \(((?:[^()/]{1,100}'s )?conflicted copy \d{4}-\d{2}-\d{2}(?: \d{6})?)\))"
CONFLICT = [re.compile(r"(.+)" + LABEL + r"()"), re.compile(r"(.+)" + LABEL + r"(\.[^.]*)")]


def split_conflict(name):
    for regex in CONFLICT:
        m = regex.fullmatch(name)
        if m:
            return m[1] + m[4], m[2] or m[3]
    return None, None


def plain_name(parent, name, ivs):
    """The name, and the label of the directory IV copy it was sealed under (or None)."""
    if "plaintext-names" in hdr["features"]:
        return name, None
    base, label = split_conflict(name)
    if base:  # shown as "NAME (conflict LABEL)"
        plain, iv_label = plain_name(parent, base, ivs)
        return "%s (conflict %s)" % (plain, label), iv_label
    if name.startswith("fernetfs.longname."):  # long names keep their token beside them
        name = open(os.path.join(parent, name + ".name")).read()
    plain = names.decrypt(name.encode())
    iv = base64.urlsafe_b64decode(name)[9:25]
    labels = [l for d, l in ivs.items() if hmac.digest(name_iv_key, d + plain, "sha256")[:16] == iv]
    return os.fsdecode(plain), (labels or [None])[0]


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
    for name in os.listdir(backing):
        path = os.path.join(backing, name)
        if not name.startswith("fernetfs.journal.") or not stat.S_ISREG(os.lstat(path).st_mode):
            continue
        data = open(path, "rb").read(64 * slot + 1)
        for at in range(0, len(data) if len(data) <= 64 * slot else 0, slot):
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
        stamp, plain = key.extract_timestamp(token), key.decrypt(token)
    except Exception:
        return 0
    if stamp % 2**63 != i or not 1 <= len(plain) <= chunk or (stamp < 2**63 and len(plain) != chunk):
        return 0
    return line_len if stamp < 2**63 else len(token) + 16 - len(plain) % 16


def put_back(data, key, recs):
    """Lines a kill tore in place, back from the newest journal copy that verifies."""
    done, most = set(), line_len + 15  # a last line of a full chunk is the longest
    for seq, off, old in sorted(recs, reverse=True):
        for i in range((off - 45) // line_len, (off + len(old) - 46) // line_len + 1):
            lo = 45 + i * line_len
            cur = bytes(data[lo : lo + most])
            n = line_ok(key, i, cur)
            if i in done or lo >= len(data) or (n and (n < line_len or cur[n - 1 : n] == b"\n")):
                continue  # sound (a final token's newlines are checked later)
            if not cur[:line_len].strip(b"\0"):
                continue  # a hole
            a, b = max(off, lo), min(off + len(old), lo + most)
            cand = bytearray(cur.ljust(most, b"\0"))
            cand[a - lo : b - lo] = old[a - off : b - off]
            n = line_ok(key, i, bytes(cand))
            hole = off <= lo and lo + line_len <= off + len(old) and not old[lo - off : lo - off + line_len].strip(b"\0")
            if not n and hole and lo + line_len < len(data):
                n = line_len  # it was a hole, not the last line
            if n:
                data[a : min(b, lo + n)] = old[a - off : min(b, lo + n) - off]
                done.add(i)


def decrypt_content(data, out):
    if not data:  # an empty file is an empty backing file
        return
    # Line 1 is "fernetfs/v1 <file ID in hex>"; then one Fernet token per chunk.
    key = fernet(derive("fernetfs v1 content key", bytes.fromhex(data[12:44].decode())))
    data = bytearray(data)
    put_back(data, key, journal.get(bytes.fromhex(data[12:44].decode()), []))
    data = bytes(data)
    index = stamp = 0
    for line in data[45:].split(b"\n"):
        token = line.lstrip(b"\0")  # a run of NUL bytes is a hole: zeros
        holes = (len(line) - len(token)) // line_len
        out.write(bytes(chunk * holes))
        index += holes
        if token:  # the timestamp field holds the chunk index (top bit: last chunk)
            assert stamp < 2**63, "data after the last chunk"
            stamp = key.extract_timestamp(token)
            assert stamp % 2**63 == index, "chunk out of place"
            out.write(key.decrypt(token))
            index += 1
    assert stamp >= 2**63, "file cut short"  # only the last chunk has the top bit


def restore(src, dst):
    os.makedirs(dst, exist_ok=True)
    ivs, entries = {}, []  # directory IV -> label of its conflict copy (None: fernetfs.diriv)
    for name in sorted(os.listdir(src)):
        base = name
        while split_conflict(base)[0]:
            base = split_conflict(base)[0]
        if base == "fernetfs.diriv" and os.path.getsize(os.path.join(src, name)) == 16:
            ivs.setdefault(open(os.path.join(src, name), "rb").read(), split_conflict(name)[1])
        if not base.startswith((".fernetfs.", "fernetfs.")) or (
            base.startswith("fernetfs.longname.") and not base.endswith(".name")
        ):  # not the header, a directory IV, a long-name sidecar or a copy of them
            entries.append(name)
    if os.path.exists(os.path.join(src, "fernetfs.diriv")):
        ivs[open(os.path.join(src, "fernetfs.diriv"), "rb").read()] = None
    plain = {name: plain_name(src, name, ivs) for name in entries}
    mains = {p for p, label in plain.values() if label is None}
    for name in entries:
        p, label = plain[name]
        if label and p in mains:  # a name made on two machines in one new directory
            p = "%s (conflict %s)" % (p, label)
        s, d = os.path.join(src, name), os.path.join(dst, p)
        if os.path.islink(s):
            token = os.readlink(s)
            if token.startswith("fernetfs.longlink."):  # a long target's token is in a file
                token = open(os.path.join(backing, token)).read()
            os.symlink(os.fsdecode(links.decrypt(token.encode())), d)
        elif os.path.isdir(s):
            restore(s, d)
        elif stat.S_ISFIFO(os.lstat(s).st_mode):  # FIFOs are kept as FIFOs, with no content
            os.mkfifo(d)
        elif os.path.isfile(s):
            with open(s, "rb") as f, open(d, "wb") as out:
                decrypt_content(f.read(), out)
        else:  # sockets, device nodes: never opened
            print("skipped special file %r" % d, file=sys.stderr)


journal = journal_records()
restore(backing, outdir)
