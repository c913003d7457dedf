// Test fixture: a module that fails while being imported.
throw new Error("this module cannot load");
