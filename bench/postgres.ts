import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './children';

const run = promisify(execFile);

/**
 * A throwaway PostgreSQL server for the tests and the benchmark (issue 14): Debian's `postgresql` package (`.ci/run`
 * installs it), a cluster made with initdb in a temporary directory, listening on 127.0.0.1 on a free port. The
 * tests run it with durability off (the cluster is thrown away); the benchmark keeps PostgreSQL's defaults (a commit
 * waits for its WAL flush), the durability a production server has. initdb refuses to run as root, so as root the
 * cluster belongs to the package's `postgres` user. Each call of `database()` makes a fresh database, so test files
 * and tests never see each other's rows. Lives in bench/ because the benchmark is built into dist/ and test/ is not;
 * test/helpers/postgres.ts re-exports it.
 */
export interface TestPostgres {
  /** `postgres://…` of a new, empty database. */
  database(): Promise<string>;
  stop(): Promise<void>;
}

function binDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'PostgreSQL is missing: apt-get install postgresql (.ci/run does), or set PG_BIN to the directory of initdb',
    );
  }
  return path.join(root, versions[0], 'bin');
}

export async function startPostgres(options: { durable?: boolean } = {}): Promise<TestPostgres> {
  const bin = binDir();
  const asRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-pg-'));
  const data = path.join(dir, 'data');
  const as = async (command: string, args: string[]) => {
    const file = path.join(bin, command);
    return asRoot ? run('runuser', ['-u', 'postgres', '--', file, ...args]) : run(file, args);
  };
  if (asRoot) {
    const { uid, gid } = await postgresIds();
    fs.chownSync(dir, uid, gid);
  }
  await as('initdb', ['-D', data, '-A', 'trust', '-U', 'gateway', '-E', 'UTF8', '--no-sync', '--locale=C']);
  const port = await freePort();
  const serverOptions = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses='127.0.0.1'",
    ...(options.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
    '-c max_connections=200',
  ].join(' ');
  await as('pg_ctl', ['-D', data, '-o', serverOptions, '-l', path.join(dir, 'server.log'), '-w', '-t', '30', 'start']);
  const admin = `postgres://gateway@127.0.0.1:${port}/postgres`;
  let n = 0;
  return {
    async database() {
      const name = `t${process.pid}_${++n}`;
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://gateway@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const { stdout: uid } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}
