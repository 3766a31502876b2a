// SPDX-License-Identifier: Apache-2.0
// Validates OpenAPI documents (hz's openapi.json) with @apidevtools/swagger-parser, which
// checks OpenAPI 3.1 against its JSON Schema and resolves every $ref.
//   node openapi_validate.js <openapi.json>...
'use strict';
const SwaggerParser = require('@apidevtools/swagger-parser');

(async () => {
  for (const file of process.argv.slice(2)) {
    try {
      const api = await SwaggerParser.validate(file);
      if (!String(api.openapi).startsWith('3.1')) throw new Error(`openapi is ${api.openapi}, not 3.1`);
      console.log(`${file}: valid OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths`);
    } catch (err) {
      console.error(`${file}: ${err.message}`);
      process.exit(1);
    }
  }
})();
