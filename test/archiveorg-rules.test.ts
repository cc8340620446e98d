import { describe, expect, it } from 'vitest';
import { IDENTIFIER, ITEM_PATH, downloadPath, isSystemFormat, isSystemName } from '../src/archiveorg-rules.js';

describe('archive.org rules', () => {
  it.each([
    ['nawarian-test', true],
    ['zenodo.org-7078760', true],
    ['A_b.c-9', true],
    ['x'.repeat(100), true],
    ['x'.repeat(101), false],
    ['-leading-dash', false],
    ['.hidden', false],
    ['with space', false],
    ['a/b', false],
    ['', false],
  ])('identifier %j: %s', (name, ok) => expect(IDENTIFIER.test(name)).toBe(ok));

  it('finds the identifier in item paths, and nothing in others', () => {
    expect(ITEM_PATH.exec('/details/nawarian-test')?.[1]).toBe('nawarian-test');
    expect(ITEM_PATH.exec('/download/nawarian-test/some/file.csv')?.[1]).toBe('nawarian-test');
    expect(ITEM_PATH.exec('/metadata/nawarian-test')?.[1]).toBe('nawarian-test');
    expect(ITEM_PATH.exec('/search?query=x')).toBeNull();
    expect(ITEM_PATH.exec('/details/-bad')).toBeNull();
  });

  it("knows archive.org's own files of an item by name and by format", () => {
    expect(isSystemName('item', 'item_meta.xml')).toBe(true);
    expect(isSystemName('Item', 'item_files.xml')).toBe(true);
    expect(isSystemName('item', '__ia_thumb.jpg')).toBe(true);
    expect(isSystemName('item', 'other_meta.xml')).toBe(false);
    expect(isSystemName('item', 'data.csv')).toBe(false);
    expect(isSystemFormat('Metadata')).toBe(true);
    expect(isSystemFormat(' Item Tile ')).toBe(true);
    expect(isSystemFormat('Comma-Separated Values')).toBe(false);
    expect(isSystemFormat(undefined)).toBe(false);
  });

  it('percent-encodes each path segment of a download path', () => {
    expect(downloadPath('item', 'deep/er/nest ed/données.json')).toBe(
      '/download/item/deep/er/nest%20ed/donn%C3%A9es.json',
    );
  });
});
