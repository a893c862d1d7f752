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
    ['Nope == 1', /Selector "Nope" is not valid/],
    ['ServiceName == web extra', /unexpected "extra"/],
  ])('rejects %j', (expression, message) => {
    expect(() => compileFilter(expression, fields)).toThrow(FilterError);
    expect(() => compileFilter(expression, fields)).toThrow(message);
  });
});
