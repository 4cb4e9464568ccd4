/** The heavy half of the import path, loaded on demand (see loadSourceTools). */
export { parseModuleSource } from './parse-module-source.js';
export { renderModule } from './render-module.js';
