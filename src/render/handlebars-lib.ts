import { createRequire } from 'node:module';
import type HandlebarsModule from 'handlebars';

/**
 * Handlebars as its publisher's single-file build of the same release (`dist/handlebars.min.js`: compiler and
 * runtime, everything but `print`/`PrintVisitor`). The package's main entry also loads `source-map` and
 * registers a `require` hook for `.handlebars` files, for precompiling; that cost 1.1 MB more of resident
 * memory, for nothing the service does.
 */
export const Handlebars = createRequire(import.meta.url)(
  'handlebars/dist/handlebars.min.js',
) as typeof HandlebarsModule;
