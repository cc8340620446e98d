export * from './statuses.js';
export * from './request.js';
export * from './manifest.js';
export * from './result.js';
