// The throwaway PostgreSQL cluster lives in bench/ (built into dist/ for npm run bench); the tests use the same one.
export { startPostgres, type TestPostgres } from '../../bench/postgres';
