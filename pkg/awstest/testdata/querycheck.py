# Runs moto's DynamoDB in process, queries one table with moto's own
# Table.query and with the patched one, and prints every query whose
# answer differs (items, count, last key), then "checked N".
# argv[1]: the patch script (motoScript without its server).
import random, sys
import moto.dynamodb.models as dm
import moto.dynamodb.models.table as dt
from moto.core import DEFAULT_ACCOUNT_ID

orig = dt.Table.query
exec(open(sys.argv[1]).read())
patched = dt.Table.query

be = dm.dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
be.create_table("t", schema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    throughput=None, attr=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"},
                           {"AttributeName": "G", "AttributeType": "S"}, {"AttributeName": "GS", "AttributeType": "S"}],
    global_indexes=[{"IndexName": "GSI1", "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}, {"AttributeName": "GS", "KeyType": "RANGE"}],
                     "Projection": {"ProjectionType": "ALL"}}],
    indexes=None, streams=None, billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[],
    deletion_protection_enabled=False, warm_throughput=None)
rnd = random.Random(7)
words = ["post#", "page#", "post#1", "a", "é", "post#10", "zz", "post#2#x"]
sks = []
for i in range(400):
    sk = rnd.choice(words) + str(rnd.randint(0, 120))
    sks.append(sk)
    item = {"PK": {"S": rnd.choice(["REC", "REC", "OUT", "EVT"])}, "SK": {"S": sk}, "v": {"S": str(i)}}
    if i % 2 == 0:
        item["G"], item["GS"] = {"S": rnd.choice(["g1", "g2"])}, {"S": str(rnd.randint(0, 50))}
    be.put_item("t", item)

def run(q, **k):
    dt.Table.query = q
    try:
        items, n, lek = be.query("t", **k)
    except Exception as e:
        return ("error", type(e).__name__)
    return ([it.to_json() for it in items], n, lek)

ops = [(None, 0), ("BEGINS_WITH", 1), ("BETWEEN", 2), ("=", 1), ("<", 1), ("<=", 1), (">", 1), (">=", 1)]
checked = 0
for _ in range(800):
    op, nvals = rnd.choice(ops)
    vals = sorted(rnd.choice(sks + words) for _ in range(nvals))
    k = dict(hash_key_dict={"S": rnd.choice(["REC", "OUT", "EVT", "NONE"])}, range_comparison=op,
             range_value_dicts=[{"S": v} for v in vals], limit=rnd.choice([None, 1, 2, 5, 50, 1000]),
             exclusive_start_key=None, scan_index_forward=rnd.random() < 0.5, projection_expressions=None)
    if rnd.random() < 0.5:
        k["exclusive_start_key"] = {"PK": k["hash_key_dict"], "SK": {"S": rnd.choice(sks + words)}}
    if rnd.random() < 0.4:
        g = rnd.choice(["g1", "g2", "g3"])
        k.update(hash_key_dict={"S": g}, index_name="GSI1", hash_key_conditions=[("G", {"S": g})],
                 range_value_dicts=[{"S": str(v)} for v in sorted(rnd.randint(0, 50) for _ in range(nvals))])
        if k["exclusive_start_key"] is not None:
            k["exclusive_start_key"] = {"G": {"S": g}, "GS": {"S": str(rnd.randint(0, 50))},
                                        "PK": {"S": rnd.choice(["REC", "OUT", "EVT"])}, "SK": {"S": rnd.choice(sks)}}
    a, b = run(orig, **k), run(patched, **k)
    if a != b:
        print("differs:", k)
    checked += 1
dt.Table.query = orig
print("checked", checked)
