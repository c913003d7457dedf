// Jest in ESM mode: ts-jest transpiles each file (no type check here; `npm run build:dev` does that).
/** @type {import('jest').Config} */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  roots: ["<rootDir>"],
  testMatch: ["**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/dist/", "/build/"],
  modulePathIgnorePatterns: ["<rootDir>/dist/", "<rootDir>/build/"],
  // Relative imports are written with `.js` (NodeNext); map them back to the `.ts` source.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  transform: {
    "^.+\\.ts$": ["ts-jest", { useESM: true, tsconfig: "tsconfig.json" }],
  },
  testTimeout: 30000,
  reporters: ["default", "<rootDir>/jest.summary-reporter.js"],
};
