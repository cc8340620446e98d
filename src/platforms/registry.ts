// The ordered platform registry: the first helper whose matchRequest says yes handles the request.
// Every file in this folder that is a helper must be listed here (test/platforms/registry.test.ts).
import type { LandingPage, PlatformHelper, PlatformRequest } from './types.js';
import { archiveorg } from './archiveorg.js';
import { dataverse } from './dataverse.js';
import { dryad } from './dryad.js';
import { figshare } from './figshare.js';
import { inveniordm } from './inveniordm.js';
import { osf } from './osf.js';
import { web } from './web.js';
import { zenodo } from './zenodo.js';

/**
 * URL-identified platforms first; then those found by what their landing page says; `web` (the
 * landing page is the file) last.
 */
export const PLATFORMS: readonly PlatformHelper[] = [
  zenodo,
  figshare,
  dryad,
  osf,
  archiveorg,
  inveniordm,
  dataverse,
  web,
];

export function findPlatform(
  request: PlatformRequest,
  landing: LandingPage | null,
  platforms: readonly PlatformHelper[] = PLATFORMS,
): PlatformHelper | undefined {
  return platforms.find((p) => p.matchRequest(request, landing));
}
