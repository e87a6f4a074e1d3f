import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { withCluster } from './support/with-cluster.js';
import { acceptedChange } from './support/membership-change.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const missing = !existsSync(CHROMIUM);
// Outside CI a machine without Chromium skips this test; CI installs it (.ci/run), so there it must run.
const skip = missing && process.env['CI'] !== 'true' ? `Chromium is not installed at ${CHROMIUM} (apt-get install -y --no-install-recommends chromium): dashboard test skipped` : false;
if (skip) console.log(`# ${skip}`);

/** A fresh headless Chromium with its own profile directory. */
async function browser<T>(body: (context: BrowserContext) => Promise<T>): Promise<T> {
  assert.ok(!missing, `${CHROMIUM} is missing (CI must install chromium)`);
  const profile = await mkdtemp(join(tmpdir(), 'flotilla-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000 });
  try {
    return await body(context);
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}

const upCount = (page: Page): Promise<number> => page.locator('tr[data-state="up"]').count();
const shownLeader = (page: Page): Promise<string | null> => page.locator('#leader').getAttribute('data-leader');

async function waitFor(what: string, predicate: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the dashboard shows every member live, and its buttons stop, start and transfer', { skip, timeout: 180_000 }, async () => {
  await withCluster({ size: 3, service: 'kv', control: true }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const base = `http://${cluster.configs.get('n1')!.httpAddress}`;
    await browser(async (context) => {
      const page = await context.newPage();
      await page.goto(`${base}/`);
      await waitFor('three members up', async () => (await upCount(page)) === 3);
      await waitFor(`leader ${leader} shown`, async () => (await shownLeader(page)) === leader);
      assert.equal(await page.locator(`tr[data-member="${leader}"]`).getAttribute('data-role'), 'leader');
      assert.match((await page.locator('#control-note').textContent()) ?? '', /local cluster launcher/);

      // Writes through n1 appear as n1's proposals per second and latencies.
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing; i++) await fetch(`${base}/v1/kv/k${i % 10}`, { method: 'PUT', body: 'v' });
      })();
      await waitFor('n1 to show proposals', async () => Number(await page.locator('tr[data-member="n1"] td[data-field="rate"]').textContent()) > 0);
      assert.match((await page.locator('tr[data-member="n1"] td[data-field="p99"]').textContent()) ?? '', /\d+(\.\d+)? (µs|ms)$/);
      writing = false;
      await writer;

      // Stop the leader with its button: the page shows it down and the new leader.
      await page.click(`button[data-action="stop"][data-member="${leader}"]`);
      await waitFor('the old leader down', async () => (await page.locator(`tr[data-member="${leader}"]`).getAttribute('data-state')) === 'down');
      await waitFor('the launcher to see the process exit', async () => !cluster.isRunning(leader));
      await waitFor('the page to report it', async () => ((await page.locator('#log').textContent()) ?? '').includes(`${leader} is stopped`));
      await waitFor('a new leader', async () => {
        const shown = await shownLeader(page);
        return shown !== null && shown !== '' && shown !== leader;
      });
      const next = await shownLeader(page);
      assert.equal(await cluster.waitForLeader(10_000, cluster.ids.filter((id) => id !== leader)), next);
      assert.equal(await page.locator(`button[data-action="start"][data-member="${leader}"]`).isEnabled(), true);

      // Start it again; then hand leadership back to it with "Make leader".
      await page.click(`button[data-action="start"][data-member="${leader}"]`);
      await waitFor('the old leader up again', async () => (await upCount(page)) === 3);
      assert.equal(cluster.isRunning(leader), true);
      await waitFor('the transfer button enabled', () => page.locator(`button[data-action="transfer"][data-member="${leader}"]`).isEnabled());
      await page.click(`button[data-action="transfer"][data-member="${leader}"]`);
      await waitFor(`leadership back on ${leader}`, async () => (await shownLeader(page)) === leader);
    });
  });
});

test('without the local cluster launcher, stop and start are disabled with the reason; watchers are capped', { skip, timeout: 120_000 }, async () => {
  await withCluster({ size: 1, service: 'kv' }, async (cluster) => {
    await cluster.waitForLeader();
    const base = `http://${cluster.configs.get('n1')!.httpAddress}`;
    await browser(async (context) => {
      const page = await context.newPage();
      await page.goto(`${base}/`);
      await waitFor('the member up', async () => (await upCount(page)) === 1);
      assert.equal(await shownLeader(page), 'n1');
      assert.equal(await page.locator('button[data-action="stop"]').isDisabled(), true);
      assert.equal(await page.locator('button[data-action="start"]').isDisabled(), true);
      assert.match((await page.locator('button[data-action="stop"]').getAttribute('title')) ?? '', /not started by the local cluster launcher/);
      assert.match((await page.locator('#control-note').textContent()) ?? '', /^Stop\/start disabled: this node was not started by the local cluster launcher/);

      // 40 more watchers: the node accepts 32 in all (the page holds one), refuses the rest.
      const result = await page.evaluate(async (url) => {
        const outcomes = await Promise.all(
          Array.from({ length: 40 }, () => new Promise<string>((resolve) => {
            const ws = new WebSocket(url);
            ws.onmessage = () => resolve('open');
            ws.onerror = () => resolve('refused');
          })),
        );
        return { open: outcomes.filter((o) => o === 'open').length, refused: outcomes.filter((o) => o === 'refused').length };
      }, `ws://${cluster.configs.get('n1')!.httpAddress}/v1/watch`);
      assert.deepEqual(result, { open: 31, refused: 9 });
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /^flotilla_dashboard_watchers\{node="n1"\} 32$/m);
    });
  });
});

test('members that join and leave at run time appear on the dashboard and leave it', { skip, timeout: 180_000 }, async () => {
  await withCluster({ size: 3, service: 'kv' }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const base = `http://${cluster.configs.get('n1')!.httpAddress}`;
    await browser(async (context) => {
      const page = await context.newPage();
      await page.goto(`${base}/`);
      await waitFor('three members up', async () => (await upCount(page)) === 3);

      // A 4th node joins as a learner: its row appears (from the members the nodes report), marked.
      await cluster.startJoiner('n4');
      const added = await acceptedChange(() => cluster.addMember('n4', false, leader));
      assert.equal(added.status, 200, JSON.stringify(added.body));
      await waitFor('n4 shown up', async () => (await page.locator('tr[data-member="n4"]').getAttribute('data-state')) === 'up');
      assert.equal(await page.locator('tr[data-member="n4"] td').first().textContent(), 'n4 (learner)');
      const info = (await (await fetch(`${base}/v1/dashboard`)).json()) as { members: { id: string; voter: boolean }[] };
      assert.deepEqual(info.members.map((m) => [m.id, m.voter]), [['n1', true], ['n2', true], ['n3', true], ['n4', false]]);

      // Removed again: the leader's configuration no longer has it, and its row goes.
      const removed = await acceptedChange(() => cluster.removeMember('n4', leader));
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      await waitFor('n4 gone from the page', async () => (await page.locator('tr[data-member="n4"]').count()) === 0);
      assert.match((await page.locator('#log').textContent()) ?? '', /n4 left the cluster/);
      await cluster.retire('n4');
      assert.equal(await upCount(page), 3);
    });
  });
});
