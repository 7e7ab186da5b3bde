#!/usr/bin/env python3
"""Restore a whole fernetfs vault with Python's `cryptography` package alone.

Usage: FERNETFS_PASSWORD=... python3 recover.py BACKING OUTDIR
"""
import base64, json, os, re, sys
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


def plain_name(parent, name):
    if "plaintext-names" in hdr["features"]:
        return name
    base, label = split_conflict(name)
    if base:  # shown as "NAME (conflict LABEL)"
        return "%s (conflict %s)" % (plain_name(parent, base), label)
    if name.startswith("fernetfs.longname."):  # long names keep their token beside them
        name = open(os.path.join(parent, name + ".name")).read()
    return os.fsdecode(names.decrypt(name.encode()))


def decrypt_content(data, out):
    if not data:  # an empty file is an empty backing file
        return
    # Line 1 is "fernetfs/v1 <file ID in hex>"; then one Fernet token per chunk.
    key = fernet(derive("fernetfs v1 content key", bytes.fromhex(data[12:44].decode())))
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
    for name in sorted(os.listdir(src)):
        base = name
        while split_conflict(base)[0]:
            base = split_conflict(base)[0]
        if base.startswith((".fernetfs.", "fernetfs.")) and (
            not base.startswith("fernetfs.longname.") or base.endswith(".name")
        ):
            continue  # the header, directory IVs, long-name sidecars, copies of them
        s, d = os.path.join(src, name), os.path.join(dst, plain_name(src, name))
        if os.path.islink(s):
            token = os.readlink(s)
            if token.startswith("fernetfs.longlink."):  # a long target's token is in a file
                token = open(os.path.join(backing, token)).read()
            os.symlink(os.fsdecode(links.decrypt(token.encode())), d)
        elif os.path.isdir(s):
            restore(s, d)
        else:
            with open(s, "rb") as f, open(d, "wb") as out:
                decrypt_content(f.read(), out)


restore(backing, outdir)
