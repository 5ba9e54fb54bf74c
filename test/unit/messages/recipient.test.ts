import { brazilianAlternates, toSendTarget } from '../../../src/messages/recipient';

describe('toSendTarget', () => {
  test.each([
    ['digits as the Hub sends them', '5511999999999', false, { to: '5511999999999', isGroup: false }],
    ['a @c.us JID', '5511999999999@c.us', false, { to: '5511999999999', isGroup: false }],
    ['a formatted number', '+55 (11) 99999-9999', false, { to: '5511999999999', isGroup: false }],
    ['a @g.us JID', '120363012345678901@g.us', false, { to: '120363012345678901', isGroup: true }],
    ['a legacy group id', '5511999999999-1600000000@g.us', false, { to: '5511999999999-1600000000', isGroup: true }],
    ['digits with isGroup', '120363012345678901', true, { to: '120363012345678901', isGroup: true }],
    ['a @lid JID', '208989199560861@lid', false, { to: '208989199560861', isGroup: false, isLid: true }],
    [
      'lid digits without suffix (15 digits)',
      '208989199560861',
      false,
      { to: '208989199560861', isGroup: false, isLid: true },
    ],
    ['14 digits (still a phone)', '12345678901234', false, { to: '12345678901234', isGroup: false }],
  ])('When `to` is %s, then the target is right', (_name, to, isGroup, expected) => {
    // Act
    const target = toSendTarget(to, isGroup);

    // Assert
    expect(target).toEqual(expected);
  });

  test('When `to` has no digits, then it is VALIDATION_FAILED', () => {
    expect(() => toSendTarget('abc')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
});

describe('brazilianAlternates', () => {
  test.each([
    ['13-digit mobile → without the ninth digit', '5511999998888', ['551199998888']],
    ['12-digit mobile → with the ninth digit', '558799884234', ['5587999884234']],
    ['12-digit landline (starts 2–5) → none', '551133334444', []],
    ['non-BR number → none', '14155550123', []],
    ['13-digit BR whose fifth digit is not 9 → none', '5511899998888', []],
    ['DDD with a zero → none', '5501999998888', []],
  ])('When the number is a %s', (_name, digits, expected) => {
    expect(brazilianAlternates(digits)).toEqual(expected);
  });
});
