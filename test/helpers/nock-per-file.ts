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
  nock.cleanAll();
  nock.restore();
  nock.enableNetConnect();
});
