import { describe, expect, it } from 'vitest';
import { compileFilter, FilterError } from './filter.js';

const entry = {
  Node: 'n1',
  ServiceName: 'web',
  ServiceID: 'web-1',
  ServiceTags: ['v1', 'primary'],
  ServiceMeta: { version: '1.2', 'external-source': 'nomad' },
  ServicePort: 8080,
  ServiceEnableTagOverride: false,
  ServiceKind: '',
  NodeMeta: {},
  Checks: [{ Status: 'passing' }, { Status: 'warning' }],
};
const fields = Object.keys(entry);

describe('compileFilter', () => {
  it.each([
    ['ServiceName == "web"', true],
    ['ServiceName == web', true],
    ['ServiceName==web', true],
    ['ServiceName == `web`', true],
    ['ServiceName != "web"', false],
    ['ServicePort == 8080', true],
    ['ServiceEnableTagOverride == false', true],
    ['"v1" in ServiceTags', true],
    ['"v9" not in ServiceTags', true],
    ['ServiceTags contains "primary"', true],
    ['ServiceTags not contains "primary"', false],
    ['ServiceMeta.version == "1.2"', true],
    ['ServiceMeta["external-source"] == "nomad"', true],
    ['"version" in ServiceMeta', true],
    ['ServiceKind is empty', true],
    ['NodeMeta is empty', true],
    ['ServiceTags is not empty', true],
    ['ServiceName matches "^w.b$"', true],
    ['ServiceName not matches "^db"', true],
    ['ServiceID matches "b-1"', true],
    ['ServiceName matches "(?i)^WEB$"', true],
    ['Checks.Status == warning', true],
    ['Checks.Status == critical', false],
    ['ServiceName == web and "v1" in ServiceTags', true],
    ['ServiceName == db or ServicePort == 8080', true],
    ['not ServiceName == db', true],
    ['not (ServiceName == web and ServicePort == 1)', true],
    ['(ServiceName == db or ServiceName == web) and ServiceMeta.version != "2"', true],
    ['servicename == "web"', true],
    ['ServiceMeta.missing == ""', true],
  ])('%s → %s', (expression, expected) => {
    expect(compileFilter(expression, fields)(entry)).toBe(expected);
  });

  it('matches in time linear in the input: the pattern that froze the agent answers at once', () => {
    // JavaScript's RegExp backtracks exponentially on this against a long run of hex digits with no x.
    const matches = compileFilter('ServiceID matches "^(.|[0-9]|[0-9a-f])+x$"', fields);
    const long = { ...entry, ServiceID: `${'0123456789abcdef'.repeat(500)}!` };
    expect(matches(long)).toBe(false);
    expect(matches({ ...entry, ServiceID: 'abc0x' })).toBe(true);
  });

  it('refuses to match a pattern against a value too long, rather than take seconds over it', () => {
    const matches = compileFilter('ServiceID matches "^w"', fields);
    expect(matches({ ...entry, ServiceID: 'w'.repeat(8192) })).toBe(true);
    expect(() => matches({ ...entry, ServiceID: 'w'.repeat(8193) })).toThrow(/a value of 8193 characters is longer than the 8192 a pattern is matched against/);
  });

  it.each([
    ['', /expected a selector, not the end of the expression/],
    ['ServiceName = "web"', /unexpected "="; did you mean "=="\? \(at character 13\)/],
    ['ServiceName == ', /expected a value, not the end of the expression/],
    ['ServiceName == "web', /unterminated string \(at character 16\)/],
    ['(ServiceName == web', /expected "\)"/],
    ['ServiceName == web and', /expected a selector/],
    ['ServiceName is full', /expected "empty"/],
    ['ServiceName likes web', /expected ==, !=, is empty, contains, matches or in after the selector, not "likes"/],
    ['ServiceName matches "("', /invalid regular expression/],
    // RE2's syntax, as go-bexpr's: no backreferences, no lookaround.
    ['ServiceName matches `(w)\\1`', /invalid regular expression: .*\\1/],
    ['ServiceName matches "w(?=e)"', /invalid regular expression/],
    [`ServiceName matches "${'a'.repeat(5000)}"`, /longer than the 4096 accepted/],
    ['ServiceName matches "((a{100}){100}){100}"', /invalid regular expression|more than the 80 accepted/],
    [`ServiceName matches "${'[^x]{0,999}'.repeat(10)}"`, /more than the 80 accepted/],
    [`${'('.repeat(5000)}ServiceName == web${')'.repeat(5000)}`, /longer than the 4096 accepted/],
    [`${'('.repeat(40)}ServiceName == web${')'.repeat(40)}`, /nested deeper than the 32/],
    [`${'not '.repeat(40)}ServiceName == web`, /nested deeper than the 32/],
    ['Nope == 1', /Selector "Nope" is not valid/],
    ['ServiceName == web extra', /unexpected "extra"/],
  ])('rejects %j', (expression, message) => {
    expect(() => compileFilter(expression, fields)).toThrow(FilterError);
    expect(() => compileFilter(expression, fields)).toThrow(message);
  });
});
