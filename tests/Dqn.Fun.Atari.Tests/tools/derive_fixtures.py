"""Derive the reduced input fixtures from the recorded ALE fixtures in ../shared/ale/fixtures.

rgb_last2.u8.gz      [100,2,210,160,3] uint8 = rgb[4k+2], rgb[4k+3] for agent step k (the two frames
                     SB3 MaxAndSkipEnv and Gymnasium AtariPreprocessing max-pool).
gray_ale_last2.u8.gz [100,2,210,160]   uint8 = gray_ale[4k+2], gray_ale[4k+3].
The recorded inputs are checked against manifest.json's sha256 before slicing; the outputs' sha256 go
to derived.json. Usage: python3 derive.py SRC_FIXTURES_DIR DST_FIXTURES_DIR game...
"""
import gzip, hashlib, json, os, sys

def load(src, manifest, name):
    entry = next(f for f in manifest["files"] if f["name"] == name)
    raw = gzip.decompress(open(os.path.join(src, name), "rb").read())
    assert hashlib.sha256(raw).hexdigest() == entry["sha256_uncompressed"], name
    return raw, entry

def derive(src, dst, game):
    src, dst = os.path.join(src, game), os.path.join(dst, game)
    manifest = json.load(open(os.path.join(src, "manifest.json")))
    out = []
    for name, new in [("rgb.u8.gz", "rgb_last2.u8.gz"), ("gray_ale.u8.gz", "gray_ale_last2.u8.gz")]:
        raw, entry = load(src, manifest, name)
        shape = entry["shape"]
        per = len(raw) // shape[0]
        steps = shape[0] // 4
        buf = b"".join(raw[(4 * k + j) * per:(4 * k + j + 1) * per] for k in range(steps) for j in (2, 3))
        with open(os.path.join(dst, new), "wb") as f:
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
                g.write(buf)
        out.append({"name": new, "dtype": "uint8", "shape": [steps, 2] + shape[1:],
                    "uncompressed_bytes": len(buf), "sha256_uncompressed": hashlib.sha256(buf).hexdigest(),
                    "derived_from": name, "derived_from_sha256_uncompressed": entry["sha256_uncompressed"],
                    "derivation": f"frames 4k+2 and 4k+3 of {name} for k in 0..{steps - 1}, in that order"})
    json.dump({"game": game, "files": out}, open(os.path.join(dst, "derived.json"), "w"), indent=2)

for game in sys.argv[3:]:
    derive(sys.argv[1], sys.argv[2], game)
