// Test fixture: a module with exports, but no handler of either shape.
export const notAHandler = 1;
