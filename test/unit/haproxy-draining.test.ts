import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { drainingInStat } from '../../src/balancer/haproxy/draining.js';
import { parseStats } from '../../src/balancer/haproxy/stat-snapshot.js';

/** What the ack record reported before: every row built, then filtered (the reference the scan must match). */
function byRows(text: string): { cluster: string; server: string; sessions: number }[] {
  return parseStats(text)
    .filter((row) => row.server !== 'BACKEND' && row.server !== 'FRONTEND' && row.currentSessions > 0 && /^(MAINT|DRAIN)/.test(row.status))
    .map((row) => ({ cluster: row.proxy, server: row.server, sessions: row.currentSessions }));
}

// HAProxy 2.6's column order (status is the 18th cell), cut after the columns that matter here.
const HEADER = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,';
const row = (proxy: string, server: string, scur: number, status: string): string => `${proxy},${server},0,0,${scur},0,,10,0,0,,0,,0,0,0,0,${status},1,1,0,`;

describe('draining sessions in show stat', () => {
  it('finds exactly the MAINT and DRAIN servers that still have sessions, as building every row did', () => {
    const text = [
      HEADER,
      row('web', 'FRONTEND', 3, 'OPEN'),
      row('web', 'a:1', 2, 'UP'),
      row('web', 'b:1', 4, 'MAINT'),
      row('web', 'c:1', 0, 'MAINT'),
      row('web', 'd:1', 1, 'DRAIN'),
      row('web', 'e:1', 5, 'MAINT (resolution)'),
      row('web', 'f:1', 7, 'DRAIN (agent)'),
      row('web', 'BACKEND', 9, 'MAINT'),
      row('api', 'g:1', 2, 'no check'),
      row('api', 'MAINT-host:1', 3, 'UP'),
      'short,line',
      '',
    ].join('\n');
    const expected = [
      { cluster: 'web', server: 'b:1', sessions: 4 },
      { cluster: 'web', server: 'd:1', sessions: 1 },
      { cluster: 'web', server: 'e:1', sessions: 5 },
      { cluster: 'web', server: 'f:1', sessions: 7 },
    ];
    assert.deepEqual(drainingInStat(text), expected);
    assert.deepEqual(byRows(text), expected);
  });

  it('finds the columns by name, not by position', () => {
    const text = '# pxname,svname,status,scur\nweb,a:1,MAINT,3\nweb,b:1,UP,3\n';
    assert.deepEqual(drainingInStat(text), [{ cluster: 'web', server: 'a:1', sessions: 3 }]);
  });

  it('skips blank lines before the header and between rows, as building every row did', () => {
    const text = `\n\n${HEADER}\n\n${row('web', 'b:1', 4, 'MAINT')}\n\n`;
    assert.deepEqual(drainingInStat(text), [{ cluster: 'web', server: 'b:1', sessions: 4 }]);
    assert.deepEqual(byRows(text), drainingInStat(text));
  });

  it('finds nothing in an answer without a header or without the columns', () => {
    assert.deepEqual(drainingInStat(''), []);
    assert.deepEqual(drainingInStat('Unknown command.\n'), []);
    assert.deepEqual(drainingInStat('# pxname,svname\nweb,a:1\n'), []);
  });
});
