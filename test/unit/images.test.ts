import { describe, expect, it } from 'vitest';
import { imagePolicy, normalizeImage } from '../../src/policy/images.js';

describe('image references', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['alpine/helm:3.9.0', 'docker.io/alpine/helm:3.9.0'],
    ['docker.io/alpine', 'docker.io/library/alpine:latest'],
    ['index.docker.io/library/alpine:1', 'docker.io/library/alpine:1'],
    ['ghcr.io/podtato-head/podtatoserver:v0.1.1', 'ghcr.io/podtato-head/podtatoserver:v0.1.1'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['alpine@sha256:abc', 'docker.io/library/alpine@sha256:abc'],
  ])('%s is %s', (ref, normalized) => expect(normalizeImage(ref)).toBe(normalized));
});

describe('image allow-list', () => {
  it('matches normalised references, so "alpine" is allowed by docker.io/library/*', () => {
    const p = imagePolicy(['docker.io/library/*']);
    expect(p.allows('alpine')).toBe(true);
    expect(p.allows('alpine/helm:3.9.0')).toBe(false);
  });

  it('completes short patterns the same way', () => {
    const p = imagePolicy(['alpine:*', 'alpine/helm:3.9.0', 'locustio/locust']);
    expect(p.allows('docker.io/library/alpine:3.20')).toBe(true);
    expect(p.allows('alpine')).toBe(true);
    expect(p.allows('alpine/helm:3.9.0')).toBe(true);
    expect(p.allows('alpine/helm:3.10.0')).toBe(false);
    expect(p.allows('locustio/locust')).toBe(true);
    expect(p.allows('locustio/locust:2.8.6')).toBe(false);
  });

  it('keeps JES glob semantics on literals (* crosses / and :, classes, alternatives)', () => {
    const p = imagePolicy(['ghcr.io/*', 'registry:5000/team-[AB]/*', 'quay.io/{a,b}/x:*']);
    expect(p.allows('ghcr.io/podtato-head/podtatoserver:v0.1.1')).toBe(true);
    expect(p.allows('quay.io/b/x:1')).toBe(true);
    expect(p.allows('quay.io/c/x:1')).toBe(false);
  });

  it('allows nothing when empty and everything with *', () => {
    expect(imagePolicy([]).allows('alpine')).toBe(false);
    expect(imagePolicy(['', ' ']).allows('alpine')).toBe(false);
    expect(imagePolicy(['*']).allows('anything/at:all')).toBe(true);
  });
});
