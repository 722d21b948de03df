CREATE TABLE loot (v text);
