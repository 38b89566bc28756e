// Registered with `node --import`: any attempt to load Ink or React fails loudly, so a scripted
// cctrl run that succeeds under this hook provably never imported them.
import { register } from 'node:module';

register('data:text/javascript,' + encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (/^(ink|react|react-reconciler|ink-testing-library)(\\/|$)/.test(specifier)) {
    throw new Error('FORBIDDEN UI IMPORT: ' + specifier);
  }
  return next(specifier, context);
}`));
