"""How the PostgreSQL driver was chosen: psycopg 3 vs ADBC's PostgreSQL driver, measured on
one machine (README, Sharing a registry). Not part of `make bench`:

    pip install psycopg[binary] adbc-driver-postgresql
    python benchmarks/pg_drivers.py postgresql://USER@HOST:PORT/DBNAME

Imports in fresh processes, connect + close, a small write transaction (a row lock and an
upsert), and 100,000 listing-shaped rows into a DuckDB table: psycopg's COPY as CSV read
by DuckDB, psycopg rows through pyarrow, ADBC's Arrow result. It creates two tables
(bench_listing, bench_w) in the database it is given."""
import os
import statistics
import subprocess
import sys
import tempfile
import time
URL = sys.argv[1]
N = 100_000

def med(f, n=7):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

def imp(mod):
    ts = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", f"import time;t=time.perf_counter();import {mod};print(time.perf_counter()-t)"], capture_output=True, text=True)
        ts.append(float(out.stdout))
    return statistics.median(ts)

import psycopg
with psycopg.connect(URL, autocommit=True) as c:
    c.execute("DROP TABLE IF EXISTS bench_listing; DROP TABLE IF EXISTS bench_w")
    c.execute("""CREATE TABLE bench_listing AS SELECT md5(g::text) AS id, 'model_' || (g/100) AS name, mod(g,100)::text AS version,
      'sklearn' AS type, 's3://b/' || md5(g::text) AS uri, now() AS creation_time, 'ci' AS creation_role,
      '{"user":"ci","host":"runner-1","ci":{"provider":"github"}}'::text AS creation_context,
      '{"python":"3.11.4","packages":{"scikit-learn":"1.5.0","numpy":"2.0.0"}}'::text AS creation_environment_spec,
      'a model' AS description, '{"stage":"archived","team":"x","owner":"y"}'::text AS tags, '{"acc":0.93,"f1":0.9}'::text AS metrics,
      '{"predict":[{"name":"a","type":"DOUBLE"},{"name":"b","type":"DOUBLE"}]}'::text AS input_spec,
      '{"predict":[{"name":"y","type":"DOUBLE"}]}'::text AS output_spec FROM generate_series(1, """ + str(N) + ") g")
    c.execute("CREATE TABLE bench_w (k text primary key, v text)")

res = {}
res["import psycopg"] = imp("psycopg")
res["import adbc_driver_postgresql.dbapi"] = imp("adbc_driver_postgresql.dbapi")
res["import pyarrow"] = imp("pyarrow")

res["psycopg connect+close"] = med(lambda: psycopg.connect(URL).close())
import adbc_driver_postgresql.dbapi as adbc
res["adbc connect+close"] = med(lambda: adbc.connect(URL).close())

pc = psycopg.connect(URL)
i = [0]
def pw():
    i[0] += 1
    with pc.transaction():
        pc.execute("SELECT v FROM bench_w WHERE k = %s FOR UPDATE", ["k"]).fetchall()
        pc.execute("INSERT INTO bench_w VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = excluded.v", ["k", str(i[0])])
res["psycopg write txn (select+upsert)"] = med(pw, 21)
ac = adbc.connect(URL)
def aw():
    i[0] += 1
    cur = ac.cursor()
    cur.execute("SELECT v FROM bench_w WHERE k = $1 FOR UPDATE", ["k"]); cur.fetchall()
    cur.execute("INSERT INTO bench_w VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v", ["k", str(i[0])])
    ac.commit(); cur.close()
res["adbc write txn (select+upsert)"] = med(aw, 21)

import duckdb
SQL = "SELECT * FROM bench_listing"
TYPES = {"id": "VARCHAR", "name": "VARCHAR", "version": "VARCHAR", "type": "VARCHAR", "uri": "VARCHAR",
         "creation_time": "TIMESTAMPTZ", "creation_role": "VARCHAR", "creation_context": "JSON",
         "creation_environment_spec": "JSON", "description": "VARCHAR", "tags": "JSON", "metrics": "JSON",
         "input_spec": "JSON", "output_spec": "JSON"}
def p_csv():
    con = duckdb.connect()
    fd, name = tempfile.mkstemp(suffix=".csv")
    with os.fdopen(fd, "wb") as f, pc.cursor() as cur:
        with cur.copy(f"COPY ({SQL}) TO STDOUT WITH (FORMAT csv)") as cp:
            for chunk in cp:
                f.write(chunk)
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv(?, columns={TYPES!r}, header=false, auto_detect=false, allow_quoted_nulls=false)", [name])
    os.unlink(name)
    assert con.execute("select count(*) from t").fetchone()[0] == N
res["psycopg COPY csv -> duckdb table (100k)"] = med(p_csv, 5)
def p_arrow():
    import pyarrow as pa
    cur = pc.execute(SQL)
    rows = cur.fetchall()
    cols = list(zip(*rows))
    t = pa.table({d.name: list(c) for d, c in zip(cur.description, cols)})
    con = duckdb.connect(); con.execute("CREATE TABLE t AS SELECT * FROM t_arrow".replace("t_arrow", "t")) if False else None
    con.register("src", t); con.execute("CREATE TABLE t AS SELECT * FROM src")
    assert con.execute("select count(*) from t").fetchone()[0] == N
res["psycopg fetchall -> pyarrow -> duckdb (100k)"] = med(p_arrow, 5)
def a_arrow():
    cur = ac.cursor(); cur.execute(SQL); t = cur.fetch_arrow_table(); cur.close()
    con = duckdb.connect(); con.register("src", t); con.execute("CREATE TABLE t AS SELECT * FROM src")
    assert con.execute("select count(*) from t").fetchone()[0] == N
res["adbc fetch_arrow_table -> duckdb (100k)"] = med(a_arrow, 5)
for k, v in res.items():
    print(f"{k:50s} {v*1000:9.1f} ms")
