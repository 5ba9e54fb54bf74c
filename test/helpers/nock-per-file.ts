import nock from 'nock';

/**
 * nock 14 installs its HTTP interceptor once per process (a global guard), and jest runs many test files in one
 * worker process with a fresh module registry each: a later file's nock would otherwise be served by an earlier
 * file's interceptor, which knows none of its mocks. Each file activates its own and removes it when done.
 */
beforeAll(() => {
  if (!nock.isActive()) nock.activate();
});

afterAll(() => {
  // A delayed reply (`.delay(10_000)` for an engine that hangs) keeps its timer after the request it answered was
  // abandoned: left running, it held the jest worker past its last file ("a worker process has failed to exit").
  nock.abortPendingRequests();
  nock.cleanAll();
  nock.restore();
  nock.enableNetConnect();
});
